"""Whole authorization flows against the real emulator, over loopback.

    python benchmarks/bench_emulator.py            # 300 flows, about half a minute
    python benchmarks/bench_emulator.py --quick    # 60 flows

The emulator runs in a child process (rate limiting off, no webhook URL), so its work
is not counted here. This process holds one lk_io ServiceClient over urllib3 and the
user's virtual device. One flow is: create an authorization request, the device
approves it (the emulator's control API), poll the answer once, start a session, end
it: four signed calls.

Client CPU is ``time.thread_time_ns`` around the four client calls only: the device's
control calls and the waits for the emulator are left out, and on a shared machine
thread CPU time does not count the moments another job held the core.

The floor of a flow is the client's unavoidable cryptography for those four calls
(RSA signatures and verifications, OAEP wrap and unwrap, AES-CBC, HMAC, SHA-256), on
the exact bytes one recorded flow exchanged, called directly through ``cryptography``.
One line of output:

    EMULATOR flows=<n> flows_per_s=<x> client_us_per_flow=<c> floor_us_per_flow=<f>
        client_vs_floor=<r>                                  (one line in the output)

With ``--split`` the client's transport is timed as well (its own thread CPU inside
``send``: urllib3, ``http.client`` and the kernel's loopback work), and a second line
follows:

    TRANSPORT transport_us_per_flow=<t> rest_us_per_flow=<c - t>
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from fixtures import (
    SealedParts,
    SignedParts,
    floor_hash,
    floor_open,
    floor_seal,
    floor_sign,
    floor_verify,
    header,
)

from lk_core import (
    HttpRequest,
    HttpResponse,
    KeyRing,
    jwe_decrypt,
    load_private_key,
    load_public_key,
)
from lk_core.service import parse_auth_package
from lk_io import ServiceClient, Urllib3Transport

USER = "bench-user@example.com"


def serve(conn: Any) -> None:
    """Child process: an emulator until the parent says stop."""
    from lk_io.emulator import Emulator

    with Emulator(rate_limit=None) as emulator:
        creds = emulator.credentials
        device = emulator.add_user(USER)
        conn.send((creds.base_url, creds.service_id, creds.service_key, device.id))
        conn.recv()


class Recorder:
    """A transport that keeps what one flow sent and received (calibration only)."""

    def __init__(self, inner: Urllib3Transport) -> None:
        self.inner = inner
        self.pairs: list[tuple[HttpRequest, HttpResponse]] = []

    def send(self, request: HttpRequest) -> HttpResponse:
        response = self.inner.send(request)
        self.pairs.append((request, response))
        return response


class Timed:
    """A transport that adds the thread CPU spent in each send to ``spent``."""

    def __init__(self, inner: Urllib3Transport) -> None:
        self.inner = inner
        self.spent = 0

    def send(self, request: HttpRequest) -> HttpResponse:
        start = time.thread_time_ns()
        try:
            return self.inner.send(request)
        finally:
            self.spent += time.thread_time_ns() - start


def flow(client: ServiceClient, device: Any, spent: list[int]) -> None:
    """One flow; appends the client's CPU nanoseconds to ``spent``."""
    clock = time.thread_time_ns
    start = clock()
    made = client.authorization_request(USER, context="bench")
    cpu = clock() - start
    device.approve(made.auth_request)
    start = clock()
    answer = client.get_advanced_authorization_response(made.auth_request)
    client.session_start(USER, made.auth_request)
    client.session_end(USER)
    cpu += clock() - start
    if answer is None or not answer.authorized:
        raise AssertionError(f"flow answered {answer!r}")
    spent.append(cpu)


def floor_of(
    pairs: list[tuple[HttpRequest, HttpResponse]], client_pem: str
) -> Callable[[], None]:
    """The crypto floor of the signed calls in ``pairs`` (public GETs are skipped)."""
    key = load_private_key(client_pem)
    steps: list[Callable[[], object]] = []
    platform_pub = None
    for request, response in pairs:
        if request.path == "/public/v3/public-key":
            platform_pub = load_public_key(response.body)
    for request, response in pairs:
        auth = dict(request.headers).get("Authorization")
        if auth is None:
            continue
        assert platform_pub is not None
        signed = SignedParts.of(auth.removeprefix("IOV-JWT "))
        if request.body:
            sealed = SealedParts.of(request.body)
            plain = b"x" * (len(sealed.ciphertext) - 1)
            steps.append(lambda s=sealed, p=plain: floor_seal(platform_pub, p, s.aad))
            steps.append(lambda b=request.body: floor_hash(b))
        steps.append(lambda s=signed.signing_input: floor_sign(key, s))
        reply = SignedParts.of(header(response, "X-IOV-JWT"))
        steps.append(lambda r=reply: floor_verify(platform_pub, r))
        if response.body:
            sealed = SealedParts.of(response.body)
            steps.append(lambda b=response.body: floor_hash(b))
            steps.append(lambda s=sealed: floor_open(key, s))
            if request.method == "GET":
                # The poll's answer carries the device's own JWE inside.
                inner = _inner_package(response.body, key)
                if inner is not None:
                    steps.append(lambda s=inner: floor_open(key, s))

    def floor() -> None:
        for step in steps:
            step()

    return floor


def _inner_package(body: bytes, key: Any) -> SealedParts | None:
    package = parse_auth_package(jwe_decrypt(body, KeyRing(key)))
    return SealedParts.of(package.auth_jwe) if package.auth_jwe else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flows", type=int, help="timed flows (default 300)")
    parser.add_argument("--quick", action="store_true", help="60 flows")
    parser.add_argument("--split", action="store_true", help="time the transport too")
    args = parser.parse_args(argv)
    flows = args.flows or (60 if args.quick else 300)

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(child,), daemon=True)
    proc.start()
    try:
        base_url, service_id, service_pem, device_id = parent.recv()
        from lk_io.emulator import VirtualDevice

        device = VirtualDevice(base_url, device_id, USER)
        recorder = Recorder(Urllib3Transport(base_url))
        calibrating = ServiceClient(service_id, service_pem, transport=recorder)
        flow(calibrating, device, [])
        floor = floor_of(recorder.pairs, service_pem)
        # Without --split the client builds its own transport, as programs do.
        timed = Timed(Urllib3Transport(base_url, retries=0))
        own = {"transport": timed} if args.split else {"url": base_url}
        client = ServiceClient(service_id, service_pem, **own)
        for _ in range(5):  # connections, clock offset and platform key
            flow(client, device, [])
        spent: list[int] = []
        in_transport: list[int] = []
        floors: list[float] = []
        ratios: list[float] = []
        started = time.perf_counter()
        for _ in range(flows):
            before = timed.spent
            flow(client, device, spent)
            in_transport.append(timed.spent - before)
            t0 = time.thread_time_ns()
            floor()
            floors.append(time.thread_time_ns() - t0)
            ratios.append(spent[-1] / floors[-1])
        # Wall time counts the floor runs too; take them out.
        wall = time.perf_counter() - started - sum(floors) / 1e9
    finally:
        parent.send("stop")
        proc.join(timeout=10)
    client_us = statistics.median(spent) / 1000
    floor_us = statistics.median(floors) / 1000
    print(
        f"EMULATOR flows={flows} flows_per_s={flows / wall:.1f} "
        f"client_us_per_flow={client_us:.0f} floor_us_per_flow={floor_us:.0f} "
        f"client_vs_floor={statistics.median(ratios):.3f}",
        flush=True,
    )
    if args.split:
        transport_us = statistics.median(in_transport) / 1000
        rest = statistics.median(map(int.__sub__, spent, in_transport))
        print(
            f"TRANSPORT transport_us_per_flow={transport_us:.0f} "
            f"rest_us_per_flow={rest / 1000:.0f}",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
