"""``hecrypt keygen / encrypt / decrypt`` on real files, through the real entry point."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest

from hecrypt.__main__ import main

X = np.array([[1.5, -2.25, 3.0], [0.125, 4.0, -5.0], [1e-3, -7.5, 0.0]])


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    assert main(["keygen", "-o", str(d / "k")]) == 0
    return d / "k"


def test_keygen_writes_owner_only_private_key(keys: Path) -> None:
    mode = stat.S_IMODE(keys.with_suffix(".key").stat().st_mode)
    assert mode == 0o600
    assert keys.with_suffix(".pub").stat().st_size == 8 + 256


def test_keygen_refuses_to_overwrite(keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "-o", str(keys)]) == 1
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("key_option", ["--public-key", "--private-key"])
@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_encrypt_decrypt_round_trip(
    keys: Path, tmp_path: Path, key_option: str, suffix: str
) -> None:
    src = tmp_path / f"x{suffix}"
    if suffix == ".npy":
        np.save(src, X)
    else:
        np.savetxt(src, X, delimiter=",", header="a,b,c", comments="")
    key_file = keys.with_suffix(".pub" if key_option == "--public-key" else ".key")
    enc = tmp_path / "x.hec"
    assert main(["encrypt", str(src), key_option, str(key_file), "-o", str(enc)]) == 0
    assert b"1.5" not in enc.read_bytes()
    out = tmp_path / f"y{suffix}"
    assert main(["decrypt", str(enc), "--private-key", str(keys.with_suffix(".key")),
                 "-o", str(out)]) == 0
    got = np.load(out) if suffix == ".npy" else np.loadtxt(out, delimiter=",", ndmin=2)
    np.testing.assert_allclose(got, X, atol=1e-9)


def test_decrypt_to_stdout(keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "x.npy"
    np.save(src, np.array([[1, -2], [3, 4]]))
    enc = tmp_path / "x.hec"
    assert main(["encrypt", str(src), "--public-key", str(keys.with_suffix(".pub")),
                 "-o", str(enc)]) == 0
    capsys.readouterr()
    assert main(["decrypt", str(enc), "--private-key", str(keys.with_suffix(".key"))]) == 0
    assert capsys.readouterr().out.split() == ["1,-2", "3,4"]


def test_errors_exit_1_with_a_message(
    keys: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2\nx,y\n")
    assert main(["encrypt", str(bad), "--public-key", str(keys.with_suffix(".pub")),
                 "-o", str(tmp_path / "o.hec")]) == 1
    assert "hecrypt encrypt:" in capsys.readouterr().err
    # a public key where the private key belongs
    src = tmp_path / "x.npy"
    np.save(src, X)
    enc = tmp_path / "x.hec"
    assert main(["encrypt", str(src), "--public-key", str(keys.with_suffix(".pub")),
                 "-o", str(enc)]) == 0
    assert main(["decrypt", str(enc), "--private-key", str(keys.with_suffix(".pub"))]) == 1
    assert "private key" in capsys.readouterr().err
    # a tampered ciphertext file
    data = bytearray(enc.read_bytes())
    data[-5] ^= 0xFF
    data[-300:-40] = bytes(260)
    enc.write_bytes(bytes(data))
    assert main(["decrypt", str(enc), "--private-key", str(keys.with_suffix(".key"))]) == 1


def test_encrypt_without_key_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "x.npy"
    np.save(src, X)
    assert main(["encrypt", str(src), "-o", str(tmp_path / "o.hec")]) == 2
