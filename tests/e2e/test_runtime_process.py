"""`python -m habeas_local` as `make run` starts it: serves, issues staff tokens, stops cleanly on SIGINT."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(base, method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base + path, data=data, method=method, headers={"content-type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_the_runtime_process_serves_the_api_and_stops_cleanly_on_sigint(tmp_path):
    port = _free_port()
    env = {**os.environ, "HABEAS_PORT": str(port), "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL", None)
    log = (tmp_path / "runtime.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "habeas_local"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True
    )
    base = f"http://127.0.0.1:{port}"

    def log_tail():
        log.seek(0)
        return log.read()[-3000:]

    try:
        started = time.monotonic()
        while True:
            assert process.poll() is None, f"the runtime exited during startup:\n{log_tail()}"
            try:
                if _call(base, "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            # ~10 s on an idle machine; the margin is for a loaded 2-core test run.
            assert time.monotonic() - started < 45, f"not serving within 45 s:\n{log_tail()}"
            time.sleep(0.2)

        assert _call(base, "GET", "/health") == (200, {"status": "ok"}), log_tail()
        status, started_verification = _call(base, "POST", "/v1/verifications", {"identifier": "e2e.rt@example.com"})
        assert status == 202 and started_verification["verification_id"]
        status, outbox = _call(base, "GET", "/local/outbox")
        assert status == 200
        mails = [m for m in outbox["messages"] if m["to"] == "e2e.rt@example.com"]
        assert mails and mails[-1]["channel"] == "email" and set(mails[-1]) == {"to", "channel", "body", "sent_at"}

        status, issued = _call(base, "POST", "/local/staff-tokens", {"sub": "agent-7", "groups": ["agent"]})
        assert status == 200
        auth = {"authorization": f"Bearer {issued['access_token']}"}
        assert _call(base, "GET", "/v1/admin/subjects?identifier=nobody%40example.com", headers=auth)[0] == 404
        assert _call(base, "GET", "/v1/admin/subjects?identifier=nobody%40example.com")[0] == 401
        assert _call(base, "GET", "/v1/not-a-route") == (404, {"message": "Not Found"})
    finally:
        process.send_signal(signal.SIGINT)
        try:
            stdout, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0
    assert f"http://127.0.0.1:{port}" in stdout and "created " in stdout
    log.seek(0)
    logged = log.read()
    assert "local-app-secret" not in logged and "local-app-secret" not in stdout
    # Nothing keeps listening after exit.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
