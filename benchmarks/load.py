"""Load: many concurrent users running whole flows against the emulator, over loopback.

    python benchmarks/load.py [--users 200] [--seconds 60] [--fail-rate 0.3]

The emulator runs in a child process (its own core); this process runs one thread per
user and a webhook receiver. Each user loops over full flows for ``--seconds``:

1. create an authorization request (our ServiceClient, shared by all users);
2. its virtual device approves or denies it (chosen at random per flow);
3. the user reads the answer by polling (even flows) or from the webhook (odd flows);
4. checks the answer is its own: same request id, its own device, the decision it
   made, and the same user hashes as its earlier flows and unlike other users';
5. starts and ends a session.

Every answer also arrives as a webhook. The receiver fails ``--fail-rate`` of the
deliveries: half of those before handling (503 at once), half after handling (the
event was acted on, but the 2xx is lost, as when a process dies before answering).
It deduplicates with the replay guard (by the token's jti). At the end it waits for
the emulator to finish delivering, then prints exactly two lines:

    LOAD users=<n> seconds=<s> flows=<f> flows_per_s=<x> p50_ms=<a> p99_ms=<b>
        lost=<l> duplicated=<d> crossed=<c>            (one line)
    WEBHOOKS expected=<m> delivered=<n> handled_twice=<k>

``lost``: answers that never came (a flow waits 30 s, then the answer is late; late
answers are looked for again once delivery has finished); ``duplicated``: a
request id issued twice; ``crossed``: an answer
that belongs to another request, device, user or decision. ``expected``: answered
requests; ``delivered``: distinct requests whose webhook was handled; ``handled_twice``:
requests whose webhook was acted on more than once. Errors of other kinds go to stderr.
Exit status is 0 only when lost, duplicated, crossed and handled_twice are all 0 and
every expected webhook was delivered.

Bounded: the run stops creating flows at ``--seconds``, in-flight flows get at most
``--drain`` more seconds, and webhook delivery at most ``--drain`` after that.
Traffic stays on 127.0.0.1. Rate limiting in the emulator is off (``--rate-limit`` to
keep the platform's 5-per-minute default): this measures throughput, not throttling.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import logging
import multiprocessing
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lk_core import AuthorizationInProgress, LaunchKeyError, WebhookReplayed
from lk_core.service import AdvancedAuthorizationResponse
from lk_io import ReplayGuard, ServiceClient
from lk_io.emulator import EmulatorControl, VirtualDevice

POLL_INTERVAL = 0.05
# A flow gives up waiting for its answer after this many seconds; the answer then
# counts as late, and as lost only if it never arrives before the run ends.
ANSWER_TIMEOUT = 30.0


def run_emulator(
    conn: Any, callback_url: str, rate_limit: bool, backlog: int | None
) -> None:
    """Child process: serve an emulator until the parent says stop."""
    from lk_core.platform import DEFAULT_RATE_LIMIT
    from lk_io.emulator import Emulator

    if backlog is not None:
        # Diagnosis only: the emulator's HTTP server listens with socketserver's
        # default queue of 5 connections.
        import socketserver

        socketserver.TCPServer.request_queue_size = backlog

    limit = DEFAULT_RATE_LIMIT if rate_limit else None
    with Emulator(rate_limit=limit, callback_url=callback_url) as emulator:
        creds = emulator.credentials
        conn.send((creds.base_url, creds.service_id, creds.service_key))
        conn.recv()  # blocks until the parent is done


@dataclass
class Tally:
    """Shared counters; every update goes through ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    flows: int = 0
    lost: int = 0
    duplicated: int = 0
    crossed: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    samples: list[str] = field(default_factory=list)
    # flows whose answer missed the per-flow deadline: (request id, how it was read)
    late: list[tuple[str, str]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    created: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    # request id -> how many times the receiver acted on its webhook
    handled: collections.Counter[str] = field(default_factory=collections.Counter)
    # request id -> the answer handed to the waiting flow (webhook-read flows)
    mailbox: dict[str, AdvancedAuthorizationResponse] = field(default_factory=dict)
    arrived: threading.Condition = field(init=False)
    hashes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    def bump(self, name: str, by: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + by)

    def error(self, where: str, exc: BaseException) -> None:
        with self.lock:
            self.errors[f"{where}:{type(exc).__name__}"] += 1
            if len(self.samples) < 5:
                self.samples.append(f"{where}: {exc}"[:200])


class Receiver:
    """The service's webhook endpoint, failing a share of deliveries on purpose."""

    def __init__(self, tally: Tally, fail_rate: float, seed: int) -> None:
        self.tally = tally
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()
        self.guard = ReplayGuard()
        self.client: ServiceClient | None = None
        self.refused_before = self.failed_after = self.replays = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver.deliver(list(self.headers.items()), body, self.path)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/webhook"

    def deliver(self, headers: list[tuple[str, str]], body: bytes, path: str) -> int:
        with self.rng_lock:
            roll = self.rng.random()
        if roll < self.fail_rate / 2:
            self.refused_before += 1
            return 503
        client = self.client
        if client is None:
            return 503
        try:
            event = client.handle_webhook(body, headers, "POST", path)
        except LaunchKeyError as exc:
            self.tally.error("webhook-verify", exc)
            return 400
        if not isinstance(event, AdvancedAuthorizationResponse):
            return 200
        try:
            with self.guard.once(headers):
                self.act(event)
        except WebhookReplayed:
            self.replays += 1
            return 200
        if roll < self.fail_rate:
            self.failed_after += 1
            return 503
        return 200

    def act(self, event: AdvancedAuthorizationResponse) -> None:
        request_id = event.authorization_request_id
        with self.tally.arrived:
            self.tally.handled[request_id] += 1
            self.tally.mailbox.setdefault(request_id, event)
            self.tally.arrived.notify_all()


@dataclass
class User:
    name: str
    device: VirtualDevice
    index: int


def check_answer(
    tally: Tally,
    user: User,
    request_id: str,
    approve: bool,
    answer: AdvancedAuthorizationResponse,
) -> None:
    """Count a crossed answer: another request, device, decision or user."""
    mine = (
        answer.authorization_request_id == request_id
        and answer.device_id == user.device.id
        and answer.authorized == approve
    )
    hashes = (answer.service_user_hash, answer.user_push_id)
    with tally.lock:
        known = tally.hashes.setdefault(user.name, hashes)
        stolen = any(
            other != user.name and theirs == hashes
            for other, theirs in tally.hashes.items()
        )
        if not mine or known != hashes or stolen:
            tally.crossed += 1


def wait_webhook(
    tally: Tally, request_id: str, deadline: float
) -> AdvancedAuthorizationResponse | None:
    with tally.arrived:
        tally.arrived.wait_for(
            lambda: request_id in tally.mailbox,
            max(0.0, deadline - time.monotonic()),
        )
        return tally.mailbox.get(request_id)


def poll(
    client: ServiceClient, request_id: str, deadline: float
) -> AdvancedAuthorizationResponse | None:
    while time.monotonic() < deadline:
        answer = client.get_advanced_authorization_response(request_id)
        if answer is not None:
            return answer
        time.sleep(POLL_INTERVAL)
    return None


def flow(
    client: ServiceClient, tally: Tally, user: User, n: int, rng: random.Random
) -> None:
    start = time.monotonic()
    request = client.authorization_request(user.name, context=f"flow {n}")
    request_id = request.auth_request
    with tally.lock:
        if request_id in tally.created:
            tally.duplicated += 1
        tally.created.add(request_id)
    approve = rng.random() < 0.8
    with step("device"):
        if approve:
            user.device.approve(request_id)
        else:
            user.device.deny(request_id)
    with tally.lock:
        tally.answered.add(request_id)
    deadline = time.monotonic() + ANSWER_TIMEOUT
    by_webhook = n % 2 == 1
    with step("webhook" if by_webhook else "poll"):
        answer = (
            wait_webhook(tally, request_id, deadline)
            if by_webhook
            else poll(client, request_id, deadline)
        )
    if answer is None:
        with tally.lock:
            tally.late.append((request_id, "webhook" if by_webhook else "poll"))
        return
    check_answer(tally, user, request_id, approve, answer)
    with step("session"):
        client.session_start(user.name, request_id)
        client.session_end(user.name)
    elapsed = time.monotonic() - start
    with tally.lock:
        tally.flows += 1
        tally.latencies.append(elapsed)


class StepFailed(Exception):
    """Names the step of a flow that raised ``__cause__``."""


@contextlib.contextmanager
def step(name: str) -> Iterator[None]:
    try:
        yield
    except (LaunchKeyError, OSError) as exc:
        raise StepFailed(name) from exc


def user_loop(
    client: ServiceClient, tally: Tally, user: User, stop_at: float, seed: int
) -> None:
    rng = random.Random(seed)
    n = user.index % 2  # half the users start with a polled flow, half a webhook
    while time.monotonic() < stop_at:
        try:
            with step("create"):
                flow(client, tally, user, n, rng)
        except StepFailed as failed:
            cause = failed.__cause__ or failed
            tally.error(failed.args[0], cause)
            if isinstance(cause, AuthorizationInProgress):
                # A create whose answer was lost left a request pending for this
                # user; an application would cancel it and start again.
                stale = cause.authorization_request_id
                with contextlib.suppress(LaunchKeyError, ValueError):
                    client.cancel_authorization_request(stale or "")
            time.sleep(0.1)
        n += 1


def settle_late(client: ServiceClient, tally: Tally) -> int:
    """How many late answers never came at all (checked after delivery finished)."""
    lost = 0
    for request_id, how in tally.late:
        if how == "webhook":
            with tally.lock:
                arrived = request_id in tally.mailbox
        else:
            try:
                arrived = (
                    client.get_advanced_authorization_response(request_id) is not None
                )
            except LaunchKeyError:
                arrived = False
        lost += not arrived
    return lost


def percentile(values: list[float], q: int) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def add_users(control: EmulatorControl, count: int) -> list[User]:
    users: list[User | None] = [None] * count

    def add(i: int) -> None:
        name = f"load-user-{i:04d}@example.com"
        users[i] = User(name, control.add_user(name), i)

    run_in_threads(add, count, width=8)
    return [u for u in users if u is not None]


def run_in_threads(work: Callable[[int], None], count: int, *, width: int) -> None:
    lock = threading.Lock()
    todo = iter(range(count))

    def worker() -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            work(i)

    threads = [threading.Thread(target=worker) for _ in range(min(width, count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def wait_delivered(control: EmulatorControl, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    stats = control.webhook_stats()
    while stats.get("pending", 0) and time.monotonic() < deadline:
        time.sleep(0.2)
        stats = control.webhook_stats()
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fail-rate", type=float, default=0.3)
    parser.add_argument("--drain", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate-limit", action="store_true")
    parser.add_argument("--backlog", type=int, default=None)
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 2000 or not 0 < args.seconds <= 3600:
        parser.error("users must be 1..2000 and seconds 0..3600")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    tally = Tally()
    receiver = Receiver(tally, args.fail_rate, args.seed)
    receiver.thread.start()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=run_emulator,
        args=(child, receiver.url, args.rate_limit, args.backlog),
        daemon=True,
    )
    proc.start()
    try:
        base_url, service_id, service_key = parent.recv()
        control = EmulatorControl(base_url)
        users = add_users(control, args.users)
        client = ServiceClient(
            service_id, service_key, url=base_url, maxsize=args.users + 8
        )
        receiver.client = ServiceClient(service_id, service_key, url=base_url)
        started = time.monotonic()
        stop_at = started + args.seconds
        threads = [
            threading.Thread(
                target=user_loop,
                args=(client, tally, user, stop_at, args.seed * 100_003 + user.index),
                daemon=True,
            )
            for user in users
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, stop_at + args.drain - time.monotonic()))
        ran = time.monotonic() - started
        stuck = sum(thread.is_alive() for thread in threads)
        stats = wait_delivered(control, args.drain)
        tally.lost = settle_late(client, tally)
        client.close()
        receiver.client.close()
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.kill()
        receiver.httpd.shutdown()
        receiver.httpd.server_close()

    with tally.lock:
        expected = len(tally.answered)
        delivered = len(set(tally.handled) & tally.answered)
        twice = sum(1 for count in tally.handled.values() if count > 1)
        lat_ms = [x * 1000 for x in tally.latencies]
        print(
            f"LOAD users={args.users} seconds={args.seconds:g} flows={tally.flows} "
            f"flows_per_s={tally.flows / ran:.1f} "
            f"p50_ms={percentile(lat_ms, 50):.0f} p99_ms={percentile(lat_ms, 99):.0f} "
            f"lost={tally.lost} duplicated={tally.duplicated} crossed={tally.crossed}"
        )
        print(
            f"WEBHOOKS expected={expected} delivered={delivered} handled_twice={twice}"
        )
        print(
            f"detail: ran_s={ran:.1f} stuck_threads={stuck} "
            f"refused_before={receiver.refused_before} "
            f"failed_after={receiver.failed_after} replays_refused={receiver.replays} "
            f"late={collections.Counter(how for _, how in tally.late)} "
            f"emulator_webhooks={stats} errors={dict(tally.errors)} "
            f"samples={tally.samples}",
            file=sys.stderr,
        )
        ok = (
            tally.lost == tally.duplicated == tally.crossed == twice == 0
            and expected == delivered
            and not stuck
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
