"""Run ``hecrypt serve`` as a separate process (benchmarks, tests, scripts).

The server is started with the same interpreter, bound to a loopback port
(a free one unless given), and waited on until ``GET /health`` answers.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from os import PathLike
from typing import IO, Any

__all__ = ["free_port", "start_service", "stop_service"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_service(
    model_files: Sequence[str | PathLike[str]],
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    options: Sequence[str] = (),
    output: int | IO[Any] | None = subprocess.DEVNULL,
    timeout: float = 60.0,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m hecrypt serve`` and wait until it is healthy.

    Args:
        model_files: model files to serve (each under its file stem).
        host: address to bind (loopback by default).
        port: port to bind; a free one when None.
        options: further ``hecrypt serve`` options (e.g. ``["--insecure-small-keys"]``).
        output: where the server's stdout and stderr go (``subprocess.PIPE`` to read them).
        timeout: seconds to wait for ``/health``.

    Returns:
        ``(process, base_url)``.

    Raises:
        RuntimeError: the server exited or did not answer in time (it is killed).
    """
    port = free_port(host) if port is None else port
    cmd = [sys.executable, "-m", "hecrypt", "serve", *map(str, model_files),
           "--host", host, "--port", str(port), *options]
    proc = subprocess.Popen(cmd, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if json.loads(r.read()).get("status") == "ok":
                    return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_service(proc)
                said = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                raise RuntimeError(f"the scoring service did not start: {said}") from None
            time.sleep(0.2)


def stop_service(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Terminate the server and wait for it (kill it if it does not stop)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
