"""The command line with bad input files, key files in every form, packing and pipes."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hecrypt
from hecrypt import models
from hecrypt.__main__ import main
from hecrypt.paillier.serialization import TYPE_PACKED_TENSOR


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli-keys")
    assert main(["keygen", "-o", str(d / "k")]) == 0
    return d / "k"


def _fails_naming(capsys: pytest.CaptureFixture[str], path: Path, *words: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert str(path) in lines[0] and "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def _npy_with_header(path: Path, header: str, data: bytes = b"") -> None:
    text = header.encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    body = text + b" " * pad + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body + data)


BAD_INPUTS = {
    "forged.npy": ("{'descr': '<f8', 'fortran_order': False, 'shape': (2, (3}", "not a valid"),
    "huge.npy": ("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }",
                 "values"),
    "short.npy": ("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3), }", "bytes"),
    "object.npy": ("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", "numbers"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_npy_files_fail_in_one_line_naming_the_file(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    header, word = BAD_INPUTS[name]
    src = tmp_path / name
    _npy_with_header(src, header, b"\x00" * 16)
    out = tmp_path / "o.hec"
    assert main(["encrypt", str(src), "--public-key", str(keys.with_suffix(".pub")),
                 "-o", str(out)]) == 1
    _fails_naming(capsys, src, word)
    assert not out.exists()


def test_empty_zero_d_and_non_csv_inputs_fail_cleanly(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pub = str(keys.with_suffix(".pub"))
    out = tmp_path / "o.hec"
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    zero_d = tmp_path / "zero.npy"
    np.save(zero_d, np.float64(3.5))
    none = tmp_path / "none.npy"
    np.save(none, np.zeros((0, 3)))
    model = tmp_path / "model.json"
    models.from_arrays([1.0, 2.0], 0.5).save(model)
    blank = tmp_path / "blank.csv"
    blank.write_text("a,b,c\n")
    cases = [(empty, "not a valid"), (zero_d, "0-d"), (none, "no values"),
             (model, "JSON"), (blank, "no values"), (keys.with_suffix(".pub"), "hecrypt key")]
    for src, word in cases:
        assert main(["encrypt", str(src), "--public-key", pub, "-o", str(out)]) == 1, src
        _fails_naming(capsys, src, word)
        assert not out.exists()


@pytest.mark.parametrize("frac_bits", ["2147483647", "68719476736", "-1"])
def test_huge_frac_bits_are_refused_before_encoding(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], frac_bits: str
) -> None:
    """2^31 fractional bits took 29 s and 1.7 GiB before anything was checked."""
    src = tmp_path / "x.npy"
    np.save(src, np.ones((3, 2)))
    out = tmp_path / "o.hec"
    for pack in ([], ["--no-pack"]):
        code = main(["encrypt", str(src), "--public-key", str(keys.with_suffix(".pub")),
                     "--frac-bits", frac_bits, "-o", str(out), *pack])
        err = capsys.readouterr().err
        assert code == 1 and "frac_bits" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        assert not out.exists()


def test_key_files_of_the_wrong_kind_are_refused_by_name(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "x.csv"
    src.write_text("1,2,3\n4,5,6\n")
    enc = tmp_path / "x.hec"
    assert main(["encrypt", str(src), "--public-key", str(keys.with_suffix(".pub")),
                 "-o", str(enc)]) == 0
    model = tmp_path / "m.json"
    models.from_arrays([1.0, 2.0, 3.0], 0.5).save(model)
    out = tmp_path / "s.hec"
    private = keys.with_suffix(".key")
    assert main(["score", str(enc), "--public-key", str(private), "--model", str(model),
                 "-o", str(out)]) == 1
    _fails_naming(capsys, private, "private key")
    assert not out.exists()
    assert main(["decrypt", str(enc), "--private-key", str(keys.with_suffix(".pub"))]) == 1
    _fails_naming(capsys, keys.with_suffix(".pub"), "public key")
    # a ciphertext file that is not one names itself
    bogus = tmp_path / "bogus.hec"
    bogus.write_text("1.34,2\n")
    assert main(["decrypt", str(bogus), "--private-key", str(private)]) == 1
    _fails_naming(capsys, bogus, "magic")


def test_encrypt_packs_by_default_and_score_decrypt_accept_packed_files(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 5))
    coef = rng.normal(size=5)
    model = tmp_path / "m.json"
    models.from_arrays(coef, 0.5, classes=[0, 1]).save(model)
    np.save(tmp_path / "x.npy", X)
    pub, key = str(keys.with_suffix(".pub")), str(keys.with_suffix(".key"))
    packed, plain = tmp_path / "packed.hec", tmp_path / "plain.hec"
    assert main(["encrypt", str(tmp_path / "x.npy"), "--public-key", pub, "--model", str(model),
                 "-o", str(packed)]) == 0
    assert main(["encrypt", str(tmp_path / "x.npy"), "--public-key", pub, "--no-pack",
                 "-o", str(plain)]) == 0
    assert packed.read_bytes()[5] == TYPE_PACKED_TENSOR
    assert packed.stat().st_size * 10 < plain.stat().st_size
    want = X @ coef + 0.5
    for enc in (packed, plain):
        scores = tmp_path / f"s-{enc.stem}.hec"
        assert main(["score", str(enc), "--public-key", pub, "--model", str(model),
                     "-o", str(scores)]) == 0
        out = tmp_path / f"s-{enc.stem}.npy"
        assert main(["decrypt", str(scores), "--private-key", key, "-o", str(out)]) == 0
        got = np.load(out)
        assert got.shape == (40,)  # as the plaintext model: one score per record
        np.testing.assert_allclose(got, want, atol=1e-6)
    capsys.readouterr()
    assert main(["decrypt", str(packed), "--private-key", key]) == 0
    rows = np.loadtxt(capsys.readouterr().out.splitlines(), delimiter=",")
    np.testing.assert_allclose(rows, X, atol=1e-8)


def test_json_keys_and_python_key_files(tmp_path: Path) -> None:
    pk, sk = hecrypt.generate_keypair(2048)
    sk.save(tmp_path / "me.key.json")
    pk.save(tmp_path / "me.pub.json")
    sk.save(tmp_path / "me.key")
    pk.save(tmp_path / "me.pub")
    for name in ("me.key.json", "me.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
        loaded = hecrypt.load_key(tmp_path / name)
        assert isinstance(loaded, hecrypt.PrivateKey) and loaded == sk
    for name in ("me.pub.json", "me.pub"):
        loaded_pk = hecrypt.load_key(tmp_path / name)
        assert isinstance(loaded_pk, hecrypt.PublicKey) and loaded_pk == pk
    assert json.loads((tmp_path / "me.pub.json").read_text())["kind"] == "hecrypt.public_key"
    # an existing world-readable file becomes owner-only when a private key replaces it
    (tmp_path / "old.key").write_text("x")
    (tmp_path / "old.key").chmod(0o644)
    sk.save(tmp_path / "old.key")
    assert stat.S_IMODE((tmp_path / "old.key").stat().st_mode) == 0o600
    with pytest.raises(hecrypt.InvalidKey, match="not a hecrypt key file"):
        (tmp_path / "x.csv").write_text("1,2\n")
        hecrypt.load_key(tmp_path / "x.csv")
    # the command line takes the JSON files
    np.save(tmp_path / "x.npy", np.array([[1.5, -2.0], [3.0, 4.25]]))
    assert main(["encrypt", str(tmp_path / "x.npy"), "--public-key",
                 str(tmp_path / "me.pub.json"), "-o", str(tmp_path / "x.hec")]) == 0
    assert main(["decrypt", str(tmp_path / "x.hec"), "--private-key",
                 str(tmp_path / "me.key.json"), "-o", str(tmp_path / "y.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), [[1.5, -2.0], [3.0, 4.25]])


def test_version_demo_bits_and_broken_pipe(keys: Path, tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "hecrypt", "--version"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"hecrypt {hecrypt.__version__}"
    out = subprocess.run([sys.executable, "-m", "hecrypt", "demo", "--bits", "1000"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--bits" in out.stderr
    np.save(tmp_path / "x.npy", np.arange(3000.0).reshape(-1, 1))
    enc = tmp_path / "x.hec"
    assert main(["encrypt", str(tmp_path / "x.npy"), "--private-key",
                 str(keys.with_suffix(".key")), "-o", str(enc)]) == 0
    cmd = (f"{sys.executable} -m hecrypt decrypt {enc} --private-key "
           f"{keys.with_suffix('.key')} | head -n 2")
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["0", "1"]
    assert out.stderr == "", out.stderr
