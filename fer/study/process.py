"""A study server in a child process (`python -m fer.study serve`), for scripts, benchmarks and tests."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the `fer` package


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(study: str | Path, port: int | None = None, timeout: float = 30.0) -> tuple[subprocess.Popen, str]:
    """`python -m fer.study serve <study> --port P` (default host), waited for until it answers; returns the
    process and its base URL. Raises RuntimeError (with the server's error output) when it does not start."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fer.study", "serve", str(study), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the study server stopped: {proc.stderr.read()}")
        try:
            if httpx.get(url + "/", timeout=1).status_code == 401:  # up: a page without a rater's token
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"the study server did not start in {timeout:.0f} s")


def stop_server(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop the server as Ctrl-C would; kill it if it has not stopped within `timeout` seconds."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
