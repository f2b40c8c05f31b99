"""The `lk` command: the demo, the local emulator, and virtual devices."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sqlite3
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

CREDENTIALS_DIR = "lk-emulator-credentials"
DEFAULT_PORT = 8090


class CliError(Exception):
    """A failure the user can act on: one `error:` line on stderr, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line too, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.INFO)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        result: int = args.run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # Not foreseen, so likely a bug: still one line, the traceback with -v.
        if args.verbose:
            traceback.print_exc()
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return result


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0..65535): {text!r}")
    return int(text)


def _http_url(text: str) -> str:
    try:
        parts = urlsplit(text)
        # Reading .port raises ValueError when the port is not a number in range.
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        valid = valid and (parts.port is None or parts.port >= 0)
    except ValueError:
        valid = False
    if not valid:
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text!r}")
    return text


def _lat_lon(text: str) -> tuple[float, float]:
    try:
        lat, lon = (float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected LAT,LON in degrees, e.g. 27.175,78.0422, not {text!r}"
        ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise argparse.ArgumentTypeError(f"not a place on Earth: {text!r}")
    return lat, lon


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lk", description="LaunchKey Service Client tools and local emulator."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="run the end-to-end demo on an embedded emulator"
    )
    demo.set_defaults(run=_demo)

    emu = sub.add_parser("emulator", help="run the local platform emulator")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=_port, default=DEFAULT_PORT, help="0 = any free")
    emu.add_argument("--state", metavar="FILE", help="SQLite file kept across runs")
    emu.add_argument("--credentials-dir", default=CREDENTIALS_DIR, metavar="DIR")
    emu.add_argument("--callback-url", type=_http_url, help="the service's webhook URL")
    emu.add_argument(
        "--allow-remote-webhooks",
        action="store_true",
        help="also deliver webhooks to non-loopback hosts",
    )
    emu.add_argument("--no-rate-limit", action="store_true")
    emu.add_argument(
        "--drain",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="on stop, wait up to this long for webhooks still being retried",
    )
    emu.set_defaults(run=_emulator)

    dev = sub.add_parser("device", help="drive virtual devices of a running emulator")
    dev.add_argument(
        "--url",
        type=_http_url,
        help="emulator base URL (default: $LK_EMULATOR_URL or the credentials file)",
    )
    dev.add_argument("--credentials-dir", default=CREDENTIALS_DIR, metavar="DIR")
    actions = dev.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = actions.add_parser("add-user", help="create a user with a linked device")
    add.add_argument("identifier")
    link = actions.add_parser("link", help="complete a link with its code")
    link.add_argument("code")
    for p in (add, link):
        _profile_args(p)
        p.add_argument(
            "--manual-unlink",
            dest="ack_unlink",
            action="store_false",
            default=None,
            help="stay UNLINK_PENDING after an unlink until ack-unlink",
        )
    for name, text in (
        ("show", "show a device"),
        ("pending", "list requests waiting for a device"),
        ("auto-off", "remove the auto-answer rule"),
        ("ack-unlink", "confirm a pending unlink (the device is removed)"),
    ):
        p = actions.add_parser(name, help=text)
        p.add_argument("device_id")
    approve = actions.add_parser("approve", help="approve a request")
    deny = actions.add_parser("deny", help="deny a request")
    fail = actions.add_parser("fail", help="fail a request")
    auto = actions.add_parser("auto", help="answer every request after N seconds")
    for p in (approve, deny, fail, auto):
        p.add_argument("device_id")
        if p is auto:
            p.add_argument("answer", choices=["approve", "deny", "fail"])
            p.add_argument("--after", type=int, default=0, metavar="SECONDS")
        else:
            p.add_argument("--auth", dest="auth_request", help="request id")
        if p is not approve:
            p.add_argument(
                "--reason",
                help="denial reason id, or failure reason (POLICY, PERMISSION, "
                "AUTHENTICATION, CONFIGURATION, BUSY_LOCAL, SENSOR)",
            )
        if p in (deny, auto):
            p.add_argument("--fraud", action="store_true", help="deny as fraud")
        _profile_args(p)
    logout = actions.add_parser("logout", help="end sessions from the device")
    logout.add_argument("device_id")
    logout.add_argument("--service", help="only this service's session")
    totp = actions.add_parser(
        "totp",
        help="give a user a new TOTP secret; prints it and the current code",
    )
    totp.add_argument("identifier")
    dev.set_defaults(run=_device)
    return parser


def _profile_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--methods", help="comma list, e.g. PIN_CODE,FINGERPRINT")
    p.add_argument(
        "--location",
        type=_lat_lon,
        metavar="LAT,LON",
        help="where the phone is, in degrees (geofences need one)",
    )
    p.add_argument(
        "--territory",
        metavar="CC[,AREA[,POSTAL]]",
        help="for TERRITORY fences, e.g. US,US-NV,89109",
    )
    p.add_argument("--jailbroken", action="store_true", default=None)
    p.add_argument("--emulator", action="store_true", default=None)


def _profile(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.methods:
        out["methods"] = [m.strip().upper() for m in args.methods.split(",")]
    if args.location:
        out["location"] = list(args.location)
    if args.territory:
        parts = [x.strip() or None for x in args.territory.split(",")]
        keys = ("country", "administrative_area", "postal_code")
        out["territory"] = dict(zip(keys, parts, strict=False))
    for flag in ("jailbroken", "emulator", "ack_unlink"):
        if getattr(args, flag, None) is not None:
            out[flag] = getattr(args, flag)
    return out


def _demo(args: argparse.Namespace) -> int:
    from lk_io.emulator._demo import run_demo

    return run_demo(sys.stdout)


def _emulator(args: argparse.Namespace) -> int:
    import msgspec

    from lk_core.platform import DEFAULT_RATE_LIMIT
    from lk_io.emulator import Emulator

    try:
        emulator = Emulator(
            host=args.host,
            port=args.port,
            state_file=args.state,
            callback_url=args.callback_url,
            rate_limit=None if args.no_rate_limit else DEFAULT_RATE_LIMIT,
            allow_remote_webhooks=args.allow_remote_webhooks,
        )
    except (sqlite3.Error, msgspec.MsgspecError, OSError) as exc:
        raise CliError(f"cannot use the state file {args.state}: {exc}") from None
    try:
        emulator.start()
    except OSError as exc:
        emulator.stop()
        reason = exc.strerror or str(exc)
        raise CliError(f"cannot listen on {args.host}:{args.port}: {reason}") from None
    try:
        folder = _write_credentials(emulator, Path(args.credentials_dir))
    except OSError as exc:
        emulator.stop()
        raise CliError(f"cannot write the credentials: {exc}") from None
    creds = emulator.credentials
    print(f"LaunchKey emulator running at {creds.base_url}")
    print(f"Credentials written to {folder}/")
    print()
    print("Use them from Python:")
    print("    from lk_io import ServiceFactory")
    print(
        f"    key = open('{folder}/service.pem').read()\n"
        f"    client = ServiceFactory('{creds.service_id}', key,\n"
        f"                            url='{creds.base_url}').make_service_client()"
    )
    print()
    print("Add a user with a virtual phone, then answer its requests:")
    print("    lk device add-user alice@example.com")
    print("    lk device approve <device id>       (or: deny --fraud, fail, auto)")
    print("    lk device totp alice@example.com    (TOTP secret and current code)")
    print()
    print("Press Ctrl-C to stop.")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    if not emulator.stop(drain=args.drain):
        kept = "kept in the state file" if args.state else "dropped (no --state)"
        print(f"Undelivered webhooks {kept}.")
    return 0


def _write_credentials(emulator: Any, folder: Path) -> Path:
    """Private keys go to 0600 files; ids and the URL to credentials.json."""
    creds = emulator.credentials
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "service.pem": creds.service_key,
        "directory.pem": creds.directory_key,
        "organization.pem": creds.organization_key,
    }
    for name, pem in files.items():
        path = folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
    summary = {
        "base_url": creds.base_url,
        "organization_id": creds.organization_id,
        "directory_id": creds.directory_id,
        "service_id": creds.service_id,
        "service_key_file": "service.pem",
        "directory_key_file": "directory.pem",
        "organization_key_file": "organization.pem",
    }
    (folder / "credentials.json").write_text(json.dumps(summary, indent=2) + "\n")
    return folder


def _base_url(args: argparse.Namespace) -> str:
    if args.url:
        return str(args.url)
    if os.environ.get("LK_EMULATOR_URL"):
        return os.environ["LK_EMULATOR_URL"]
    if (Path(args.credentials_dir) / "credentials.json").exists():
        return str(_credentials(args, "base_url")["base_url"])
    return f"http://127.0.0.1:{DEFAULT_PORT}"


def _credentials(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """These values from the credentials.json `lk emulator` wrote."""
    path = Path(args.credentials_dir) / "credentials.json"
    try:
        summary = json.loads(path.read_text())
        values = {name: summary[name] for name in names}
    except FileNotFoundError:
        raise CliError(
            f"no {path}: run this where `lk emulator` runs, or pass --credentials-dir"
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CliError(f"cannot read {path}: {exc!r}") from None
    return values


def _new_totp(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Generate a secret through the Directory API, signed with the directory key
    `lk emulator` wrote, and the code valid now on the emulator's clock."""
    from lk_core import EntityNotFound
    from lk_core.platform._totp import code_at
    from lk_io.emulator import ControlError, DirectoryCalls, EmulatorControl

    summary = _credentials(args, "directory_id", "directory_key_file")
    key_file = Path(args.credentials_dir) / summary["directory_key_file"]
    try:
        key = key_file.read_text()
    except OSError as exc:
        raise CliError(f"cannot read the directory key: {exc}") from None
    calls = DirectoryCalls(summary["directory_id"], key, url)
    try:
        config = calls.generate_totp(args.identifier)
    except EntityNotFound:
        hint = "add one with: lk device add-user"
        raise ControlError(404, f"no user {args.identifier!r}; {hint}") from None
    finally:
        calls.close()
    now = EmulatorControl(url).now()
    code = code_at(
        config["secret"],
        now,
        algorithm=config["algorithm"],
        digits=config["digits"],
        period=config["period"],
    )
    return {"identifier": args.identifier, **config, "code": code}


def _device(args: argparse.Namespace) -> int:
    from lk_core import LaunchKeyError
    from lk_io.emulator import ControlError, EmulatorControl, VirtualDevice

    url = _base_url(args)
    control = EmulatorControl(url)
    action = args.action
    try:
        if action == "add-user":
            device = control.add_user(args.identifier, **_profile(args))
            result: Any = device.info()
        elif action == "link":
            result = control.link(args.code, **_profile(args)).info()
        elif action == "totp":
            result = _new_totp(url, args)
        else:
            device = VirtualDevice(url, args.device_id, "")
            result = _device_action(device, args)
    except (ControlError, LaunchKeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot reach the emulator at {url}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


def _device_action(device: Any, args: argparse.Namespace) -> Any:
    action = args.action
    if action == "show":
        return device.info()
    if action == "pending":
        return device.pending()
    if action == "auto-off":
        device.auto_off()
        return device.info()
    if action == "ack-unlink":
        device.acknowledge_unlink()
        return {"device_id": device.id, "removed": True}
    if action == "logout":
        return {"ended": device.logout(args.service)}
    options = _profile(args)
    if action == "approve":
        return device.approve(args.auth_request, **options)
    if action == "deny":
        return device.answer(
            "deny", args.auth_request, denial_reason=args.reason, fraud=args.fraud
        )
    if action == "fail":
        return device.fail(args.auth_request, reason=args.reason or "AUTHENTICATION")
    extra: dict[str, Any] = dict(options)
    if args.answer == "deny":
        extra.update(denial_reason=args.reason, fraud=args.fraud)
    elif args.answer == "fail":
        extra.update(fail_reason=args.reason or "AUTHENTICATION")
    device.auto(args.answer, after=args.after, **extra)
    return device.info()
