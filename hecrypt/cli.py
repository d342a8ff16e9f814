"""Subcommands of the ``hecrypt`` command that work with files.

``hecrypt keygen``, ``hecrypt encrypt``, ``hecrypt score``, ``hecrypt decrypt``
and ``hecrypt serve``. Keys and
ciphertexts use the binary formats of :mod:`hecrypt.paillier.serialization`
(see docs/formats.md). Exit codes: 0 success, 1 a rule was broken by the
input (bad key, bad ciphertext, overflow), 2 usage error (argparse).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["add_commands", "read_matrix", "write_matrix", "write_secret"]


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to a new or existing file readable by its owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode under O_CREAT
        os.write(fd, data)
    finally:
        os.close(fd)


def read_matrix(path: Path) -> np.ndarray:
    """Read a numeric array from ``.npy`` (no pickles) or CSV (header line allowed)."""
    if path.suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
    else:
        with path.open() as fh:
            first = fh.readline()
        skip = 0
        try:
            [float(v) for v in first.strip().split(",") if v.strip()]
        except ValueError:
            skip = 1  # a header line
        arr = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{path}: expected numbers, found dtype {arr.dtype}")
    return arr


def write_matrix(path: Path | None, arr: np.ndarray) -> None:
    """Write an array as ``.npy`` or, for any other suffix, as CSV (None: stdout)."""
    if path is not None and path.suffix == ".npy":
        np.save(path, arr, allow_pickle=False)
        return
    fmt = "%d" if arr.dtype.kind in "iu" else "%.17g"
    rows = np.atleast_2d(arr) if arr.ndim < 2 else arr
    if path is None:
        np.savetxt(sys.stdout, rows, delimiter=",", fmt=fmt)
    else:
        np.savetxt(path, rows, delimiter=",", fmt=fmt)


def _progress(desc: str) -> Any:
    """A progress bar on stderr when it is a terminal (kept out of logs and pipes)."""
    if not sys.stderr.isatty():
        return None
    from hecrypt.paillier.parallel import progress_bar

    return progress_bar(desc)


def _load_public(path: Path) -> Any:
    from hecrypt.paillier import PrivateKey, PublicKey
    from hecrypt.paillier.serialization import MAGIC, TYPE_PRIVATE_KEY

    data = path.read_bytes()
    # A private key file also holds the public key (type byte after magic and version).
    if data[: len(MAGIC)] == MAGIC and data[len(MAGIC) + 1 : len(MAGIC) + 2] == bytes(
        [TYPE_PRIVATE_KEY]
    ):
        return PrivateKey.from_bytes(data).public_key
    return PublicKey.from_bytes(data)


def _keygen(args: argparse.Namespace) -> int:
    import hecrypt

    out = Path(args.out)
    pub_path, key_path = out.with_suffix(".pub"), out.with_suffix(".key")
    for p in (pub_path, key_path):
        if p.exists() and not args.force:
            sys.stderr.write(f"hecrypt keygen: {p} exists (use --force to overwrite)\n")
            return 1
    public_key, private_key = hecrypt.generate_keypair(args.bits)
    pub_path.write_bytes(public_key.to_bytes())
    write_secret(key_path, private_key.to_bytes())
    sys.stdout.write(
        f"{public_key.n_bits}-bit key {public_key.fingerprint}\n"
        f"  public key:  {pub_path}\n  private key: {key_path} (owner-only permissions)\n"
    )
    return 0


def _encrypt(args: argparse.Namespace) -> int:
    from hecrypt.paillier import PrivateKey

    X = read_matrix(Path(args.input))
    if args.private_key:
        key: Any = PrivateKey.from_bytes(Path(args.private_key).read_bytes())
    elif args.public_key:
        key = _load_public(Path(args.public_key))
    else:
        sys.stderr.write("hecrypt encrypt: give --public-key or --private-key\n")
        return 2
    tensor = key.encrypt(
        X.astype(np.float64) if args.float else X,
        frac_bits=args.frac_bits,
        value_bound=args.value_bound,
        progress=_progress("encrypting"),
    )
    data = tensor.to_bytes()
    Path(args.output).write_bytes(data)
    sys.stdout.write(
        f"encrypted {X.shape[0]}x{X.shape[1] if X.ndim > 1 else 1} values "
        f"({len(data)} bytes) to {args.output}\n"
    )
    return 0


def _decrypt(args: argparse.Namespace) -> int:
    from hecrypt.paillier import EncryptedTensor, PrivateKey

    private_key = PrivateKey.from_bytes(Path(args.private_key).read_bytes())
    tensor = EncryptedTensor.from_bytes(Path(args.input).read_bytes(), private_key.public_key)
    values = private_key.decrypt(tensor, progress=_progress("decrypting"))
    if args.output:
        write_matrix(Path(args.output), values)
        sys.stdout.write(f"decrypted {values.size} values to {args.output}\n")
    else:
        write_matrix(None, values)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from hecrypt import models

    table: dict[str, Any] = {}
    for path in map(Path, args.models):
        name = path.stem
        if name in table:
            sys.stderr.write(f"hecrypt serve: two models named {name!r}; rename one file\n")
            return 1
        table[name] = models.load(path)
    try:
        import uvicorn

        from hecrypt.service.server import create_app
    except ImportError:
        sys.stderr.write(
            'hecrypt serve: needs FastAPI and uvicorn: pip install "hecrypt[server]"\n'
        )
        return 1
    app = create_app(
        table, max_body_bytes=args.max_body_bytes, insecure_small_keys=args.insecure_small_keys
    )
    names = ", ".join(sorted(table))
    sys.stderr.write(f"hecrypt serve: models {names} on http://{args.host}:{args.port}\n")
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    except SystemExit as exc:  # uvicorn exits 3 when it cannot bind; keep to 0/1/2
        if exc.code not in (0, None):
            sys.stderr.write(f"hecrypt serve: could not serve on {args.host}:{args.port}\n")
            return 1
    return 0


def _score(args: argparse.Namespace) -> int:
    from hecrypt.service import wire

    public_key = _load_public(Path(args.public_key))
    batch = wire.decode_batch(Path(args.input).read_bytes(), public_key)
    if args.server:
        from hecrypt.service.client import HTTPScorer

        scorer: Any = HTTPScorer(args.server)
        scores = scorer.score(public_key, batch)
    else:
        from hecrypt import models

        scores = models.load(args.model).score_encrypted(batch).rerandomized()
    data = scores.to_bytes()
    Path(args.output).write_bytes(data)
    sys.stdout.write(f"scored {batch.shape[0]} records; encrypted scores ({len(data)} bytes) "
                     f"in {args.output}\n")
    return 0


def _guarded(fn: Any) -> Any:
    """Turn expected failures into a message on stderr and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        from hecrypt.exceptions import HecryptError

        try:
            return int(fn(args))
        except (HecryptError, ValueError, OSError) as exc:
            sys.stderr.write(f"hecrypt {args.command}: {exc}\n")
            return 1

    return run


def add_commands(sub: Any) -> None:
    """Register keygen, encrypt and decrypt on an argparse subparsers object."""
    p = sub.add_parser("keygen", help="generate a key pair (NAME.pub, NAME.key)")
    p.add_argument("-o", "--out", default="hecrypt", help="file name stem (default: hecrypt)")
    p.add_argument("--bits", type=int, default=2048, choices=(2048, 3072, 4096))
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=_guarded(_keygen))

    p = sub.add_parser("encrypt", help="encrypt a CSV or .npy array to a ciphertext file")
    p.add_argument("input", help="CSV (header line allowed) or .npy file of numbers")
    p.add_argument("-o", "--output", required=True, help="encrypted output file")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--public-key", help="public key file (or a private key file)")
    g.add_argument("--private-key", help="private key file: the key owner's faster path")
    p.add_argument("--frac-bits", type=int, default=None, help="fixed-point bits for floats")
    p.add_argument("--value-bound", type=float, default=None,
                   help="public bound on |x| (otherwise the largest magnitude is revealed)")
    p.add_argument("--float", action="store_true", help="treat integer input as floats")
    p.set_defaults(func=_guarded(_encrypt))

    p = sub.add_parser("decrypt", help="decrypt a ciphertext file to CSV or .npy")
    p.add_argument("input", help="encrypted file")
    p.add_argument("--private-key", required=True, help="private key file")
    p.add_argument("-o", "--output", help="CSV or .npy output (default: CSV on stdout)")
    p.set_defaults(func=_guarded(_decrypt))

    p = sub.add_parser("score", help="score an encrypted file with a model file or a server")
    p.add_argument("input", help="encrypted records (from hecrypt encrypt)")
    p.add_argument("--public-key", required=True, help="public key the records are under")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", help="model file (hecrypt.models format)")
    g.add_argument("--server", help="scoring service URL, e.g. http://host:8000/models/NAME")
    p.add_argument("-o", "--output", required=True, help="encrypted scores file")
    p.set_defaults(func=_guarded(_score))

    p = sub.add_parser("serve", help="run the scoring service for model files")
    p.add_argument("models", nargs="+", help="model files; each is served under its file stem")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--max-body-bytes", type=int, default=64 * 1024 * 1024,
                   help="largest request body accepted (default 64 MiB)")
    p.add_argument("--log-level", default="warning", help="uvicorn log level")
    p.add_argument("--insecure-small-keys", action="store_true",
                   help="accept client keys below 2048 bits (tests only)")
    p.set_defaults(func=_guarded(_serve))

    from hecrypt.hybrid.cli_party import add_party_command  # the multi-party block

    add_party_command(sub)
