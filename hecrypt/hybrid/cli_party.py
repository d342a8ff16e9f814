"""``hecrypt party``: run one role of a multi-party job on this machine.

Example, three machines (the dealer listens, the server listens and dials the
dealer, the client dials both)::

    dealer$ hecrypt party --job ping --role dealer --listen 0.0.0.0:7001 \\
                --accept server --accept client --tls-cert d.pem --tls-key d.key --tls-ca ca.pem
    server$ hecrypt party --job ping --role server --listen 0.0.0.0:7002 --accept client \\
                --connect dealer=10.0.0.1:7001 --tls-cert s.pem --tls-key s.key --tls-ca ca.pem
    client$ hecrypt party --job ping --role client --connect dealer=10.0.0.1:7001 \\
                --connect server=10.0.0.2:7002 --tls-cert c.pem --tls-key c.key --tls-ca ca.pem

The job's result is printed as JSON on stdout, the cost table on stderr.
Exit codes: 0 success, 1 the protocol failed (the message says which party
and why), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

__all__ = ["add_party_command", "run_party_command"]


def add_party_command(sub: Any) -> None:
    """Register ``hecrypt party`` on an argparse subparsers object."""
    from hecrypt.hybrid.channels import DEFAULT_TIMEOUT
    from hecrypt.hybrid.frames import DEFAULT_MAX_FRAME

    p = sub.add_parser("party", help="run one role of a multi-party (secret-sharing) job")
    p.add_argument("--job", required=True, help="the job to run (e.g. ping)")
    p.add_argument("--role", required=True, help="this machine's role (e.g. client)")
    p.add_argument("--listen", metavar="HOST:PORT",
                   help="address to listen on for the peers named with --accept "
                        "(port 0: any free port, printed on stderr)")
    p.add_argument("--accept", action="append", default=[], metavar="NAME",
                   help="a peer that connects to this role (repeat per peer)")
    p.add_argument("--connect", action="append", default=[], metavar="NAME=HOST:PORT",
                   help="a peer this role connects to (repeat per peer)")
    p.add_argument("--tls-cert", help="PEM certificate of this role (mutual TLS)")
    p.add_argument("--tls-key", help="PEM private key of this role")
    p.add_argument("--tls-ca", help="PEM CA certificate(s) the peers' certificates chain to")
    p.add_argument("--tls-role-names", action="store_true",
                   help="require each peer's certificate to name its role (DNS name)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds to connect and to wait for any message "
                        f"(default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--max-frame", type=int, default=DEFAULT_MAX_FRAME,
                   help="largest message accepted, in bytes with its 18-byte header")
    p.add_argument("--model", help="model file (jobs that use one)")
    p.add_argument("--input", help="input file (jobs that use one)")
    p.add_argument("--output", help="output file (jobs that write one)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a job option (repeat)")
    p.add_argument("--report", choices=("table", "json", "none"), default="table",
                   help="cost report on stderr (default: table)")
    p.set_defaults(func=run_party_command)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    raise TypeError(f"{type(value).__name__} is not JSON")


def run_party_command(args: argparse.Namespace) -> int:
    """Run ``hecrypt party``; returns the exit code."""
    from hecrypt.exceptions import HecryptError
    from hecrypt.hybrid.report import format_report
    from hecrypt.hybrid.runner import get_job, run_program
    from hecrypt.hybrid.tcp import TcpEndpoint, TLSConfig, parse_address

    def fail(message: str, code: int = 1) -> int:
        sys.stderr.write(f"hecrypt party: {message}\n")
        return code

    tls_args = (args.tls_cert, args.tls_key, args.tls_ca)
    if any(tls_args) and not all(tls_args):
        return fail("TLS needs all of --tls-cert, --tls-key and --tls-ca", 2)
    if args.accept and not args.listen:
        return fail("--accept needs --listen", 2)
    if args.listen and not args.accept:
        return fail("--listen needs the peers that connect, named with --accept", 2)
    try:
        options: dict[str, Any] = {}
        for item in args.option:
            key, sep, value = item.partition("=")
            if not sep or not key:
                return fail(f"--option {item!r} is not KEY=VALUE", 2)
            options[key] = value
        for key in ("model", "input", "output"):
            if getattr(args, key) is not None:
                options[key] = getattr(args, key)
        dial = {}
        for item in args.connect:
            peer, sep, address = item.partition("=")
            if not sep or not peer:
                return fail(f"--connect {item!r} is not NAME=HOST:PORT", 2)
            dial[peer] = parse_address(address)
        program = get_job(args.job)(args.role, options)
        tls = TLSConfig(*tls_args, role_in_certificate=args.tls_role_names) if all(
            tls_args) else None
        listen = parse_address(args.listen) if args.listen else None
        endpoint = TcpEndpoint(args.role, listen, tls=tls, timeout=args.timeout,
                               max_frame=args.max_frame)
        if endpoint.address is not None:
            host, port = endpoint.address
            sys.stderr.write(f"hecrypt party: {args.role} listening on {host}:{port}\n")
            sys.stderr.flush()
        party = endpoint.connect(args.accept, dial)
    except (HecryptError, ValueError, OSError) as exc:
        return fail(str(exc))
    outcome = run_program(party, program)
    if not outcome.ok:
        origin = outcome.origin or args.role
        cause = outcome.cause.split("\n", 1)[0] if origin != args.role else outcome.cause
        return fail(f"party {origin!r} failed: {cause}")
    try:
        text = json.dumps({"role": args.role, "result": outcome.result}, default=_jsonable)
    except (TypeError, ValueError):
        text = json.dumps({"role": args.role, "result": repr(outcome.result)})
    sys.stdout.write(text + "\n")
    if args.report == "table":
        sys.stderr.write(format_report({args.role: outcome.report or {}}) + "\n")
    elif args.report == "json":
        sys.stderr.write(json.dumps(outcome.report) + "\n")
    return 0
