"""The local runtime (`make run`'s server) started as a subprocess on a free port, once per session."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Client:
    """A tiny HTTP client for the runtime."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,  # noqa: S310
            headers={"content-type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                status, text, content_type = (
                    response.status,
                    response.read().decode(),
                    response.headers.get("content-type", ""),
                )
        except urllib.error.HTTPError as error:
            status, text, content_type = error.code, error.read().decode(), error.headers.get("content-type", "")
        return status, (json.loads(text) if "json" in content_type and text else text)


@pytest.fixture(scope="session")
def runtime() -> Iterator[Client]:
    port = _free_port()
    env = {**os.environ, "HABEAS_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "habeas_local"],
        cwd=ROOT,
        env=env,  # noqa: S603
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = Client(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.request("GET", "/health")[0] == 200:
                break
        except OSError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"the local runtime exited with {process.returncode}")
        time.sleep(0.3)
    else:
        process.kill()
        raise RuntimeError("the local runtime did not become healthy in 60 s")
    yield client
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
