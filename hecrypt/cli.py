"""Subcommands of the ``hecrypt`` command that work with files.

``hecrypt keygen``, ``hecrypt encrypt``, ``hecrypt score``, ``hecrypt decrypt``
and ``hecrypt serve``. Keys and
ciphertexts use the binary formats of :mod:`hecrypt.paillier.serialization`
(see docs/formats.md); key files may also be JSON. Exit codes: 0 success,
1 a rule was broken by the input (bad key, bad ciphertext, overflow; one
line on stderr naming the file and the rule, and no output file left
behind), 2 usage error (argparse), 141 the reader of stdout went away.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from hecrypt.exceptions import HecryptError

__all__ = ["add_commands", "read_matrix", "write_matrix", "write_secret", "InputFileError"]

#: Largest input array accepted by ``hecrypt encrypt`` (values).
MAX_INPUT_VALUES = 50_000_000
#: Bound on ``|w|`` that packed slots are sized for when ``hecrypt encrypt`` is not told
#: the model (``--model`` / ``--server`` size them from its published L1 bound instead).
PACK_WEIGHT_BOUND = 2.0**16


class InputFileError(HecryptError, ValueError):
    """A file given on the command line breaks a rule (the message names the file)."""

    def __init__(self, path: str | os.PathLike[str], rule: str) -> None:
        super().__init__(f"{path}: {rule}")


def write_secret(path: Path, data: bytes) -> None:
    """Write ``data`` to a file readable by its owner only (0600), whole or not at all."""
    from hecrypt.paillier.keyfiles import write_file

    write_file(path, data, secret=True)


def _write_output(path: str | os.PathLike[str], data: bytes) -> None:
    """Write an output file whole or not at all."""
    from hecrypt.paillier.keyfiles import write_file

    write_file(path, data)


# ---------------------------------------------------------------- input arrays
def _read_npy(path: Path) -> np.ndarray:
    """A numeric ``.npy`` array, its header checked against the file size before loading."""
    from numpy.lib import format as npy

    size = path.stat().st_size
    with path.open("rb") as fh:
        try:
            version = npy.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(fh)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = npy.read_array_header_2_0(fh)
            else:
                raise ValueError(f"version {version}")
        except Exception as exc:  # numpy raises ValueError, EOFError, tokenizer errors, ...
            raise InputFileError(path, f"not a valid .npy file ({exc})") from None
        if dtype.hasobject or dtype.kind not in "biuf":
            raise InputFileError(path, f"expected numbers, found dtype {dtype}")
        _check_shape(path, shape)
        count = int(np.prod(shape, dtype=object))
        expected = count * dtype.itemsize
        if size - fh.tell() != expected:
            raise InputFileError(
                path,
                f"the header declares shape {shape} ({expected} bytes of data) but the file "
                f"holds {size - fh.tell()} bytes after it",
            )
        try:
            arr = np.fromfile(fh, dtype=dtype, count=count)
        except (ValueError, OSError) as exc:
            raise InputFileError(path, f"cannot read the array ({exc})") from None
    return arr.reshape(shape, order="F" if fortran else "C")


def _check_shape(path: Path, shape: tuple[int, ...]) -> None:
    if len(shape) == 0:
        raise InputFileError(
            path, "holds a single value (a 0-d array); save records as a 1-D or 2-D array"
        )
    if len(shape) > 2:
        raise InputFileError(path, f"has shape {shape}; records are a 1-D or 2-D array")
    count = int(np.prod(shape, dtype=object))
    if count == 0:
        raise InputFileError(path, f"has no values (shape {shape})")
    if count > MAX_INPUT_VALUES:
        raise InputFileError(
            path, f"declares {count} values, above the limit of {MAX_INPUT_VALUES}"
        )


def _read_csv(path: Path) -> np.ndarray:
    from hecrypt.paillier.serialization import MAGIC

    with path.open("rb") as fh:
        head = fh.read(64)
    if head.startswith(MAGIC):
        raise InputFileError(path, "is a hecrypt key or ciphertext file, not CSV numbers")
    if head.lstrip()[:1] in (b"{", b"["):
        raise InputFileError(
            path, "looks like JSON (a model or key file?), not CSV numbers"
        )
    if b"\x00" in head:
        raise InputFileError(path, "is a binary file, not CSV numbers (use .npy for arrays)")
    try:
        with path.open() as fh:
            first = fh.readline()
        skip = 0
        try:
            [float(v) for v in first.strip().split(",") if v.strip()]
        except ValueError:
            skip = 1  # a header line
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "no data": refused below
            arr = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"not CSV numbers ({exc})") from None
    _check_shape(path, arr.shape)
    return arr


def read_matrix(path: Path) -> np.ndarray:
    """Read a numeric array from ``.npy`` (no pickles) or CSV (header line allowed).

    Raises:
        InputFileError: the file breaks a rule (the message names it and the rule).
        OSError: the file cannot be read.
    """
    path = Path(path)
    arr = _read_npy(path) if path.suffix == ".npy" else _read_csv(path)
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise InputFileError(path, "contains NaN or infinity")
    return arr


def write_matrix(path: Path | None, arr: np.ndarray) -> None:
    """Write an array as ``.npy`` or, for any other suffix, as CSV (None: stdout).

    A 1-D array is written one value per line (one score per record).
    """
    rows = arr.reshape(-1, 1) if arr.ndim < 2 else arr
    fmt = "%d" if arr.dtype.kind in "iu" else "%.17g"
    if path is None:
        np.savetxt(sys.stdout, rows, delimiter=",", fmt=fmt)
        sys.stdout.flush()
        return
    import io

    if path.suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        _write_output(path, buf.getvalue())
        return
    text = io.StringIO()
    np.savetxt(text, rows, delimiter=",", fmt=fmt)
    _write_output(path, text.getvalue().encode())


def _progress(desc: str) -> Any:
    """A progress bar on stderr when it is a terminal (kept out of logs and pipes)."""
    if not sys.stderr.isatty():
        return None
    from hecrypt.paillier.parallel import progress_bar

    return progress_bar(desc)


# ---------------------------------------------------------------- keys and ciphertexts
def _load_key(path: str, want: str) -> Any:
    """The key in ``path``: ``want`` is ``"public"`` (a private key file is refused),
    ``"private"``, or ``"any"``."""
    from hecrypt.paillier import PrivateKey
    from hecrypt.paillier.keyfiles import load_key

    try:
        key = load_key(path)
    except (OSError, HecryptError) as exc:
        message = str(exc)
        raise InputFileError(path, message.removeprefix(f"{path}: ")) from None
    private = isinstance(key, PrivateKey)
    if want == "public" and private:
        raise InputFileError(
            path, "is a private key: give the public key file (NAME.pub); the private key "
            "never leaves its owner"
        )
    if want == "private" and not private:
        raise InputFileError(path, "is a public key: this needs the private key file")
    return key


def _load_batch(path: str, public_key: Any) -> Any:
    """An encrypted tensor or packed tensor file under ``public_key``."""
    from hecrypt.service import wire

    try:
        data = Path(path).read_bytes()
        return wire.decode_batch(data, public_key)
    except OSError as exc:
        raise InputFileError(path, exc.strerror or str(exc)) from None
    except HecryptError as exc:
        raise InputFileError(path, str(exc)) from None


# ---------------------------------------------------------------- commands
def _keygen(args: argparse.Namespace) -> int:
    import hecrypt

    out = Path(args.out)
    pub_path, key_path = out.with_suffix(".pub"), out.with_suffix(".key")
    for p in (pub_path, key_path):
        if p.exists() and not args.force:
            sys.stderr.write(f"hecrypt keygen: {p} exists (use --force to overwrite)\n")
            return 1
    public_key, private_key = hecrypt.generate_keypair(args.bits)
    _write_output(pub_path, public_key.to_bytes())
    write_secret(key_path, private_key.to_bytes())
    sys.stdout.write(
        f"{public_key.n_bits}-bit key {public_key.fingerprint}\n"
        f"  public key:  {pub_path}\n  private key: {key_path} (owner-only permissions)\n"
    )
    return 0


def _model_info(args: argparse.Namespace) -> Any:
    """The public description of the model named by ``--model`` or ``--server``, if any."""
    if getattr(args, "model", None):
        from hecrypt import models

        try:
            return models.load(args.model).info
        except (OSError, HecryptError) as exc:
            raise InputFileError(args.model, str(exc).removeprefix(f"{args.model}: ")) from None
    if getattr(args, "server", None):
        from hecrypt.service.client import HTTPScorer

        return HTTPScorer(args.server).info
    return None


def _encrypt(args: argparse.Namespace) -> int:
    from hecrypt.encoding.fixedpoint import DEFAULT_FRAC_BITS
    from hecrypt.paillier import PrivateKey

    if not (args.private_key or args.public_key):
        sys.stderr.write("hecrypt encrypt: give --public-key or --private-key\n")
        return 2
    if args.private_key:
        key: Any = _load_key(args.private_key, "private")
    else:
        key = _load_key(args.public_key, "any")
        if isinstance(key, PrivateKey):
            key = key.public_key
    X = read_matrix(Path(args.input))
    values = X.astype(np.float64) if args.float else X
    info = _model_info(args)
    if info is not None and X.shape[-1] != info.n_features:
        raise InputFileError(
            args.input,
            f"has {X.shape[-1]} features per record, but the model expects {info.n_features}",
        )
    pack = args.pack and X.ndim == 2 and X.shape[0] > 1
    if pack:
        options: dict[str, Any] = {"weight_bound": PACK_WEIGHT_BOUND}
        if info is not None and info.weight_l1_bound is not None:
            # as the Python client: slots sized by the model's public L1 bound
            options = {"weight_bound": info.weight_l1_bound, "terms": 1}
        frac_bits = args.frac_bits
        if frac_bits is None and values.dtype.kind == "f":
            frac_bits = DEFAULT_FRAC_BITS  # the precision of unpacked encryption
        tensor: Any = key.encrypt_packed(
            values, frac_bits=frac_bits, value_bound=args.value_bound,
            weight_frac_bits=DEFAULT_FRAC_BITS,
            progress=_progress("encrypting"), **options,
        )
        how = f"packed {tensor.slots} records per ciphertext"
    else:
        tensor = key.encrypt(
            values, frac_bits=args.frac_bits, value_bound=args.value_bound,
            progress=_progress("encrypting"),
        )
        how = "one ciphertext per value"
    data = tensor.to_bytes()
    _write_output(args.output, data)
    shape = "x".join(map(str, X.shape))
    sys.stdout.write(f"encrypted {shape} values ({how}, {len(data)} bytes) to {args.output}\n")
    return 0


def _decrypt(args: argparse.Namespace) -> int:
    private_key = _load_key(args.private_key, "private")
    tensor = _load_batch(args.input, private_key.public_key)
    try:
        values = np.asarray(private_key.decrypt(tensor, progress=_progress("decrypting")))
    except HecryptError as exc:
        raise InputFileError(args.input, str(exc)) from None
    if args.output:
        write_matrix(Path(args.output), values)
        sys.stdout.write(f"decrypted {values.size} values to {args.output}\n")
    else:
        write_matrix(None, values)
    return 0


def _score(args: argparse.Namespace) -> int:
    public_key = _load_key(args.public_key, "public")
    batch = _load_batch(args.input, public_key)
    from hecrypt.exceptions import EncodingOverflowError

    hint = (
        f"; encrypt {args.input} again with --model or --server so that its packing slots "
        "are sized for this model's weights"
    )
    packed = not hasattr(batch, "encoding")
    if args.server:
        from hecrypt.service.client import HTTPScorer, ServiceError

        try:
            scores = HTTPScorer(args.server).score(public_key, batch)
        except ServiceError as exc:
            if packed and exc.status == 422 and "slot" in exc.detail:
                raise ServiceError(exc.status, exc.detail + hint) from None
            raise
    else:
        from hecrypt import models

        try:
            model = models.load(args.model)
        except (OSError, HecryptError) as exc:
            raise InputFileError(args.model, str(exc).removeprefix(f"{args.model}: ")) from None
        try:
            scores = model.score_for_client(batch)
        except EncodingOverflowError as exc:
            raise EncodingOverflowError(f"{exc}{hint if packed else ''}") from None
    data = scores.to_bytes()
    _write_output(args.output, data)
    records = batch.shape[0] if batch.ndim > 1 else 1
    sys.stdout.write(f"scored {records} records; encrypted scores ({len(data)} bytes) "
                     f"in {args.output}\n")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import logging

    from hecrypt import models

    table: dict[str, Any] = {}
    for path in map(Path, args.models):
        name = path.stem
        if name in table:
            sys.stderr.write(f"hecrypt serve: two models named {name!r}; rename one file\n")
            return 1
        try:
            table[name] = models.load(path)
        except (OSError, HecryptError) as exc:
            raise InputFileError(path, str(exc).removeprefix(f"{path}: ")) from None
    try:
        import uvicorn

        from hecrypt.service.server import LOGGER_NAME, create_app
    except ImportError:
        sys.stderr.write(
            'hecrypt serve: needs FastAPI and uvicorn: pip install "hecrypt[server]"\n'
        )
        return 1
    app = create_app(
        table, max_body_bytes=args.max_body_bytes, insecure_small_keys=args.insecure_small_keys,
        max_key_bits=args.max_key_bits, max_json_body_bytes=args.max_json_body_bytes,
        max_concurrent=args.max_concurrent,
    )
    level = args.log_level.upper()
    log = logging.getLogger(LOGGER_NAME)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False
    names = ", ".join(sorted(table))
    sys.stderr.write(f"hecrypt serve: models {names} on http://{args.host}:{args.port}\n")
    sys.stderr.flush()
    try:
        # one line per request comes from the service's own log (no key, no ciphertext)
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level.lower(),
                    access_log=False)
    except SystemExit as exc:  # uvicorn exits 3 when it cannot bind; keep to 0/1/2
        if exc.code not in (0, None):
            sys.stderr.write(f"hecrypt serve: could not serve on {args.host}:{args.port}\n")
            return 1
    finally:
        log.removeHandler(handler)
    return 0


def guarded(fn: Any) -> Any:
    """Turn expected failures into one line on stderr and exit code 1.

    For any subcommand: a rule broken by the input (a :class:`HecryptError`,
    a ``ValueError`` or an ``OSError``) is reported as ``hecrypt COMMAND:
    message``, never as a traceback.
    """

    def run(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except (HecryptError, ValueError, OSError, MemoryError) as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            message = str(exc) or type(exc).__name__
            if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
                message = f"{exc.filename}: {exc.strerror}"
            sys.stderr.write(f"hecrypt {args.command}: {message}\n")
            return 1

    return run


_guarded = guarded  # the name used before


def add_commands(sub: Any) -> None:
    """Register keygen, encrypt, decrypt, score and serve on an argparse subparsers object."""
    from hecrypt.service.wire import DEFAULT_MAX_KEY_BITS

    p = sub.add_parser("keygen", help="generate a key pair (NAME.pub, NAME.key)")
    p.add_argument("-o", "--out", default="hecrypt", help="file name stem (default: hecrypt)")
    p.add_argument("--bits", type=int, default=2048, choices=(2048, 3072, 4096))
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=guarded(_keygen))

    p = sub.add_parser("encrypt", help="encrypt a CSV or .npy array to a ciphertext file")
    p.add_argument("input", help="CSV (header line allowed) or .npy file of numbers")
    p.add_argument("-o", "--output", required=True, help="encrypted output file")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--public-key", help="public key file, binary or JSON (or a private key file)")
    g.add_argument("--private-key", help="private key file: the key owner's faster path")
    p.add_argument("--frac-bits", type=int, default=None, help="fixed-point bits for floats")
    p.add_argument("--value-bound", type=float, default=None,
                   help="public bound on |x| (otherwise the largest magnitude is revealed)")
    p.add_argument("--float", action="store_true", help="treat integer input as floats")
    p.add_argument("--no-pack", dest="pack", action="store_false",
                   help="one ciphertext per value instead of packing many records into each "
                        "(packing is the default for two or more records)")
    m = p.add_mutually_exclusive_group()
    m.add_argument("--model", help="model file the records are for (sizes the packing slots "
                                   "from its public weight bound)")
    m.add_argument("--server", help="scoring service model URL the records are for (same)")
    p.set_defaults(func=guarded(_encrypt))

    p = sub.add_parser("decrypt", help="decrypt a ciphertext file to CSV or .npy")
    p.add_argument("input", help="encrypted file (values or scores, packed or not)")
    p.add_argument("--private-key", required=True, help="private key file, binary or JSON")
    p.add_argument("-o", "--output", help="CSV or .npy output (default: CSV on stdout)")
    p.set_defaults(func=guarded(_decrypt))

    p = sub.add_parser("score", help="score an encrypted file with a model file or a server")
    p.add_argument("input", help="encrypted records (from hecrypt encrypt, packed or not)")
    p.add_argument("--public-key", required=True,
                   help="public key file the records are under (binary or JSON)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", help="model file (hecrypt.models format)")
    g.add_argument("--server", help="scoring service URL, e.g. http://host:8000/models/NAME")
    p.add_argument("-o", "--output", required=True, help="encrypted scores file")
    p.set_defaults(func=guarded(_score))

    p = sub.add_parser("serve", help="run the scoring service for model files")
    p.add_argument("models", nargs="+", help="model files; each is served under its file stem")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--max-body-bytes", type=int, default=64 * 1024 * 1024,
                   help="largest binary request body accepted (default 64 MiB)")
    p.add_argument("--max-json-body-bytes", type=int, default=None,
                   help="largest JSON request body accepted (default: 8 MiB or "
                        "--max-body-bytes if smaller)")
    p.add_argument("--max-key-bits", type=int, default=DEFAULT_MAX_KEY_BITS,
                   help=f"largest client key accepted (default {DEFAULT_MAX_KEY_BITS} bits)")
    p.add_argument("--max-concurrent", type=int, default=8,
                   help="score requests read and scored at once (default 8; bounds memory)")
    p.add_argument("--log-level", default="info",
                   help="log level (default info: one line per request with method, path, "
                        "status, sizes and time)")
    p.add_argument("--insecure-small-keys", action="store_true",
                   help="accept client keys below 2048 bits (tests only)")
    p.set_defaults(func=guarded(_serve))

    from hecrypt.hybrid.cli_party import add_party_command  # the multi-party block

    add_party_command(sub)
