"""CPU per operation: this library, the vendor SDK 4.0.1, and the crypto floor.

    python benchmarks/bench.py            # full run, about 3 to 4 minutes on 2 cores
    python benchmarks/bench.py --quick    # a rough look in well under a minute

For RSA 2048 and 4096 it times five operations (see docs/performance.md):
request (build one authorization request), response (verify and decrypt the reply),
auth_webhook (handle an authorization-response webhook), session_webhook (handle a
session-end webhook) and round_trip (create an authorization request and poll its
answer against an in-memory platform, the platform's own CPU subtracted).

Time is CPU time of this process (``time.process_time_ns``), not wall time: the work
is single-threaded and never waits, so CPU time is the work itself, and on a shared
machine it does not count the moments another job held the core.

Each round runs every operation for ours, vendor and floor in alternating chunks of
about half a millisecond of floor work, in an order that rotates, each chunk after one
untimed call (``--cold``: none); ratios are taken within a round and the reported
ratio is the median over rounds. Output lines, one per figure:

    BENCH op=<name> bits=<n> ours_us=<x> vendor_us=<y> floor_us=<z>
          ours_vs_floor=<r> vendor_vs_ours=<s>          (one line in the output)
    IMPORT ours_ms=<a> vendor_ms=<b>
    MEMORY calls=<n> rss_start_mib=<c> rss_end_mib=<d>
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fixtures import (
    CONTEXT,
    REQUEST_ID,
    SERVICE,
    TITLE,
    TTL,
    USER,
    WEBHOOK_PATH,
    Abort,
    MemoryPlatform,
    Messages,
    Op,
    SealedParts,
    SignedParts,
    World,
    floor_hash,
    floor_open,
    floor_seal,
    floor_sign,
    floor_verify,
    header,
)

from lk_core import HttpRequest, Send, verify_response
from lk_core.service import (
    auth_request_body,
    create_auth_plan,
    get_auth_response_plan,
    parse_create_auth,
)

OPS = ("request", "response", "auth_webhook", "session_webhook", "round_trip")
IMPLS = ("ours", "vendor", "floor")
clock = time.process_time_ns


@dataclass
class Case:
    """One operation at one key size: a callable per implementation."""

    impls: dict[str, Op]
    # Platforms whose CPU time is not the client's and is subtracted.
    platforms: tuple[MemoryPlatform, ...] = ()


@dataclass
class Samples:
    us: dict[str, list[float]] = field(default_factory=lambda: {i: [] for i in IMPLS})
    ours_vs_floor: list[float] = field(default_factory=list)
    vendor_vs_ours: list[float] = field(default_factory=list)


def timed(fn: Op, n: int, platforms: tuple[MemoryPlatform, ...]) -> float:
    """Microseconds of client CPU per call of ``fn``, over ``n`` calls."""
    before = sum(p.cpu_ns for p in platforms)
    start = clock()
    for _ in range(n):
        fn()
    spent = clock() - start - (sum(p.cpu_ns for p in platforms) - before)
    return spent / n / 1000


def _our_builder(w: World, poll: bool = False) -> Callable[[], HttpRequest]:
    """Build one request with the public sans-IO plan, as the client would.

    The plan's first step is the signed request; the client's runner only sends it.
    Its jti source is the client's own.
    """
    client = w.ours
    new_jti = client._new_jti

    def build() -> HttpRequest:
        if poll:
            plan = get_auth_response_plan(
                client.platform_view,
                w.creds,
                REQUEST_ID,
                now=time.time(),
                new_jti=new_jti,
            )
        else:
            plan = create_auth_plan(
                client.platform_view,
                w.creds,
                USER,
                now=time.time(),
                new_jti=new_jti,
                context=CONTEXT,
                title=TITLE,
                ttl=TTL,
            )
        step = next(plan)
        plan.close()
        assert isinstance(step, Send)
        return step.request

    return build


def _create(client: object) -> object:
    return client.authorization_request(  # type: ignore[attr-defined]
        USER, context=CONTEXT, title=TITLE, ttl=TTL
    )


def _poll(client: object) -> object:  # the memory check polls with the client
    return client.get_advanced_authorization_response(  # type: ignore[attr-defined]
        REQUEST_ID
    )


def _signing_input(request: HttpRequest) -> bytes:
    token = header(request, "Authorization").removeprefix("IOV-JWT ")
    return SignedParts.of(token).signing_input


def _request_floor(w: World) -> Callable[[], None]:
    built = _our_builder(w)()
    signing_input = _signing_input(built)
    body = built.body
    aad = body.split(b".", 1)[0]
    plaintext = auth_request_body(USER, context=CONTEXT, title=TITLE, ttl=TTL)
    platform_pub = w.platform_key.public
    key = w.client_key

    def floor() -> None:
        floor_seal(platform_pub, plaintext, aad)
        floor_hash(body)
        floor_sign(key, signing_input)

    return floor


def _response_floor(w: World, reply_jwt: str, body: bytes) -> Callable[[], bytes]:
    signed = SignedParts.of(reply_jwt)
    sealed = SealedParts.of(body)
    platform_pub, key = w.platform_key.public, w.client_key

    def floor() -> bytes:
        floor_verify(platform_pub, signed)
        floor_hash(body)
        return floor_open(key, sealed)

    return floor


def _build_request(client: object) -> None:
    try:
        _create(client)
    except Abort:
        return
    raise AssertionError("the builder transport should have aborted")


def cases(w: World, m: Messages) -> dict[str, Case]:
    """The five operations for this round's messages."""
    subject = str(SERVICE)
    vendor_t = w.vendor._transport
    sent = w.sent(m.jti)
    create_jwt = header(m.create, "X-IOV-JWT")
    create_text = m.create.body.decode()
    create_headers = _vendor_headers(m.create)
    inner = SealedParts.of(w.auth_jwe)
    client_key = w.client_key

    def ours_response() -> object:
        body = verify_response(
            m.create,
            sent,
            platform_keys=w.platform_keys,
            keyring=w.keyring,
            now=int(time.time()),
        )
        return parse_create_auth(body)

    def vendor_response() -> object:
        vendor_t.verify_jwt_response(create_headers, m.jti, create_text, subject)
        return json.loads(vendor_t.decrypt_response(create_text))

    request_floor = _request_floor(w)
    create_floor = _response_floor(w, create_jwt, m.create.body)
    poll_floor = _response_floor(w, header(m.poll, "X-IOV-JWT"), m.poll.body)

    hooks = {
        "auth_webhook": _webhook_case(w, m.auth_hook, inner),
        "session_webhook": _webhook_case(w, m.session_hook, None),
    }

    get_token = _signing_input(_our_builder(w, poll=True)())

    def floor_round_trip() -> None:
        request_floor()
        create_floor()
        floor_sign(client_key, get_token)
        poll_floor()
        floor_open(client_key, inner)

    def ours_round_trip() -> object:
        made = _create(w.ours)
        return w.ours.get_advanced_authorization_response(made.auth_request)

    def vendor_round_trip() -> object:
        made = _create(w.vendor)
        return w.vendor.get_advanced_authorization_response(made.auth_request)

    return {
        "request": Case(
            {
                "ours": _our_builder(w),
                "vendor": lambda: _build_request(w.vendor_builder),
                "floor": request_floor,
            }
        ),
        "response": Case(
            {"ours": ours_response, "vendor": vendor_response, "floor": create_floor}
        ),
        **hooks,
        "round_trip": Case(
            {
                "ours": ours_round_trip,
                "vendor": vendor_round_trip,
                "floor": floor_round_trip,
            },
            platforms=(w.platform,),
        ),
    }


def _vendor_headers(message: object) -> object:
    from requests.structures import CaseInsensitiveDict

    return CaseInsensitiveDict(list(message.headers))  # type: ignore[attr-defined]


def _webhook_case(w: World, hook: object, inner: SealedParts | None) -> Case:
    headers = dict(hook.headers)  # type: ignore[attr-defined]
    body: bytes = hook.body  # type: ignore[attr-defined]
    text = body.decode()
    signed = SignedParts.of(headers["X-IOV-JWT"])
    sealed = SealedParts.of(body) if inner is not None else None
    platform_pub, key = w.platform_key.public, w.client_key

    def floor() -> None:
        floor_verify(platform_pub, signed)
        floor_hash(body)
        if sealed is not None and inner is not None:
            floor_open(key, sealed)
            floor_open(key, inner)

    return Case(
        {
            "ours": lambda: w.ours.handle_webhook(body, headers, "POST", WEBHOOK_PATH),
            "vendor": lambda: w.vendor.handle_advanced_webhook(
                text, headers, "POST", WEBHOOK_PATH
            ),
            "floor": floor,
        }
    )


# --- checks that every implementation really did the work ----------------------------


def check(w: World, m: Messages) -> None:
    """Fail loudly if any implementation does not produce the expected answer."""
    c = cases(w, m)
    ours = c["round_trip"].impls["ours"]()
    vendor = c["round_trip"].impls["vendor"]()
    assert ours.authorized, ours  # type: ignore[attr-defined]
    assert vendor.authorized, vendor  # type: ignore[attr-defined]
    assert ours.service_pins == tuple(vendor.service_pins)  # type: ignore[attr-defined]
    for name in ("auth_webhook", "session_webhook"):
        a = c[name].impls["ours"]()
        b = c[name].impls["vendor"]()
        assert type(a).__name__ == type(b).__name__, (a, b)
    assert c["response"].impls["ours"]().auth_request == REQUEST_ID  # type: ignore[attr-defined]
    assert c["response"].impls["vendor"]()["auth_request"] == REQUEST_ID  # type: ignore[index]
    assert b"auth_request" in c["response"].impls["floor"]()  # type: ignore[operator]


# --- the rounds ----------------------------------------------------------------------


# One chunk of ours or floor calls covers about this much floor work; chunks of the
# three implementations alternate, so a slow moment of the machine (they last
# milliseconds here) falls on all three alike.
CHUNK_US = 500.0
# Each chunk starts with one untimed call (unless --cold). Without it, the first call
# of a chunk pays for refilling the CPU caches the previous implementation emptied, and
# for the expensive operations a chunk is a single call: after the vendor SDK's large
# code base, that refill alone costs our authorization-response webhook about 140 us
# more here. What that measures is the previous chunk, not the operation; --cold shows
# it.


@dataclass
class Plan:
    """How one operation is timed in a round: calls per chunk, chunks per round."""

    chunk: dict[str, int]
    reps: int


def calibrate(case: Case, target_us: float) -> Plan:
    """Chunks of about CHUNK_US of floor work, enough of them to cover ``target_us``."""
    for fn in case.impls.values():
        fn()
    floor_us = max(timed(case.impls["floor"], 3, ()), 1.0)
    vendor_us = max(timed(case.impls["vendor"], 1, case.platforms), 1.0)
    chunk = max(1, round(CHUNK_US / floor_us))
    # The vendor is several times slower; fewer of its calls keep its chunk comparable.
    vendor_chunk = max(1, round(chunk * floor_us / vendor_us * 2))
    reps = max(1, round(target_us / (chunk * floor_us)))
    return Plan({"ours": chunk, "floor": chunk, "vendor": vendor_chunk}, reps)


def run_rounds(
    worlds: list[World],
    rounds: int,
    target_us: float,
    ops: tuple[str, ...] = OPS,
    *,
    cold: bool = False,
) -> dict[tuple[str, int], Samples]:
    results = {(op, w.bits): Samples() for w in worlds for op in ops}
    plans: dict[tuple[str, int], Plan] = {}
    orders = list(itertools.permutations(IMPLS))
    for r in range(rounds):
        for w in worlds:
            c = cases(w, w.fresh())
            for op in ops:
                case = c[op]
                plan = plans.get((op, w.bits))
                if plan is None:
                    plan = plans[(op, w.bits)] = calibrate(case, target_us)
                spent = dict.fromkeys(IMPLS, 0.0)
                for rep in range(plan.reps):
                    order = orders[(r + rep + OPS.index(op)) % len(orders)]
                    for impl in order:
                        n = plan.chunk[impl]
                        if not cold:
                            case.impls[impl]()
                        spent[impl] += n * timed(case.impls[impl], n, case.platforms)
                got = {i: spent[i] / (plan.chunk[i] * plan.reps) for i in IMPLS}
                s = results[(op, w.bits)]
                for impl, us in got.items():
                    s.us[impl].append(us)
                s.ours_vs_floor.append(got["ours"] / got["floor"])
                s.vendor_vs_ours.append(got["vendor"] / got["ours"])
    return results


def report(results: dict[tuple[str, int], Samples]) -> None:
    med = statistics.median
    for (op, bits), s in results.items():
        print(
            f"BENCH op={op} bits={bits} ours_us={med(s.us['ours']):.1f} "
            f"vendor_us={med(s.us['vendor']):.1f} floor_us={med(s.us['floor']):.1f} "
            f"ours_vs_floor={med(s.ours_vs_floor):.3f} "
            f"vendor_vs_ours={med(s.vendor_vs_ours):.2f}",
            flush=True,
        )


# --- import time and memory ----------------------------------------------------------

# CPU time of the import alone, like the rest: unmarshalling and running module code
# is CPU work, and CPU time ignores the moments another job held the core.
_IMPORT = "import time; t = time.process_time(); {}; print(time.process_time() - t)"
IMPORTS = {
    "ours": "import lk_io",
    "vendor": "import launchkey; import launchkey.clients.service",
}


def import_ms(stmt: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT.format(stmt)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout) * 1000


def measure_imports(runs: int) -> None:
    """Fresh interpreters, alternating; CPU time of the import statement only."""
    got: dict[str, list[float]] = {k: [] for k in IMPORTS}
    for stmt in IMPORTS.values():
        import_ms(stmt)  # compile and cache bytecode first
    for _ in range(runs):
        for name, stmt in IMPORTS.items():
            got[name].append(import_ms(stmt))
    ours, vendor = (statistics.median(got[k]) for k in ("ours", "vendor"))
    print(f"IMPORT ours_ms={ours:.1f} vendor_ms={vendor:.1f}", flush=True)


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def measure_memory(w: World, calls: int) -> None:
    """``calls`` client calls in this process: creates, polls and both webhooks."""

    def batch(n: int) -> None:
        done = 0
        while done < n:
            m = w.fresh()  # messages stay valid for ~35 s; refresh often
            auth = (m.auth_hook.body, dict(m.auth_hook.headers))
            end = (m.session_hook.body, dict(m.session_hook.headers))
            for i in range(min(400, n - done)):
                kind = i % 4
                if kind == 0:
                    _create(w.ours)
                elif kind == 1:
                    _poll(w.ours)
                else:
                    body, headers = auth if kind == 2 else end
                    w.ours.handle_webhook(body, headers, "POST", WEBHOOK_PATH)
            done += min(400, n - done)

    batch(max(400, calls // 20))
    gc.collect()
    start = rss_mib()
    batch(calls)
    gc.collect()
    end = rss_mib()
    print(
        f"MEMORY calls={calls} rss_start_mib={start:.2f} rss_end_mib={end:.2f}",
        flush=True,
    )


# --- main ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, rough")
    parser.add_argument("--rounds", type=int, help="rounds of the five operations")
    parser.add_argument("--bits", default="2048,4096", help="comma-separated sizes")
    parser.add_argument("--calls", type=int, help="calls in the memory check")
    parser.add_argument("--only", choices=("bench", "import", "memory"))
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated ops")
    parser.add_argument(
        "--cold", action="store_true", help="time each chunk's first call too"
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (8 if args.quick else 150)
    target_us = 2000.0 if args.quick else 4000.0
    calls = args.calls or (2000 if args.quick else 10000)
    sizes = [int(b) for b in args.bits.split(",")]

    cpu = _cpu_name()
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu}; "
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}; "
        f"timer process_time_ns; rounds={rounds}; "
        f"{'cold' if args.cold else 'warm'} chunks",
        file=sys.stderr,
        flush=True,
    )
    started = time.perf_counter()
    if args.only in (None, "import"):
        measure_imports(5 if args.quick else 15)
    worlds = [World(bits) for bits in sizes]
    for w in worlds:
        check(w, w.fresh())
    gc.collect()
    gc.freeze()
    if args.only in (None, "bench"):
        ops = tuple(op for op in OPS if op in args.ops.split(","))
        report(run_rounds(worlds, rounds, target_us, ops, cold=args.cold))
    if args.only in (None, "memory"):
        measure_memory(worlds[0], calls)
    print(f"# took {time.perf_counter() - started:.0f} s", file=sys.stderr)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
