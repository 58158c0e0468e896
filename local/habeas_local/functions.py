"""The runtime's Lambda service: one worker subprocess per function, invocations serialised.

A worker is started on first use (or warmed at startup), is killed and replaced when an invocation
exceeds the function's Timeout (as Lambda recycles a timed-out sandbox), and is restarted if it
dies. Each worker's environment is built from scratch: the template's variables for that function,
the Lambda-defined variables, the embedded AWS endpoint and dummy credentials; nothing else from
the runtime's own environment leaks in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from habeas_local.aws import DUMMY_CREDENTIALS, EmbeddedAws

log = logging.getLogger("habeas_local")

# Seconds a worker gets to import its handler before an invocation gives up on it.
_INIT_TIMEOUT = 30.0


class FunctionError(Exception):
    """A handler raised, timed out or could not start; carries Lambda's error fields."""

    def __init__(self, logical_id: str, error_type: str, message: str) -> None:
        super().__init__(f"{logical_id}: {error_type}: {message}")
        self.logical_id = logical_id
        self.error_type = error_type
        self.error_message = message


@dataclass
class Invocation:
    """The outcome of one invocation."""

    request_id: str
    ok: bool
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None


def lambda_environment(aws: EmbeddedAws, logical_id: str) -> dict[str, str]:
    """The whole environment a function's worker runs with."""
    assert aws.template is not None
    spec = aws.template.functions[logical_id]
    name = aws.function_name(logical_id)
    memory = aws.function_setting(logical_id, "MemorySize")
    env = {
        # What the Lambda runtime itself defines.
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_REGION": aws.region,
        "AWS_DEFAULT_REGION": aws.region,
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
        "PYTHONPATH": str(spec.code_dir),
        # Lambda's stdout is not a terminal; unbuffered keeps log lines in order on the console.
        "PYTHONUNBUFFERED": "1",
        # The same marker `sam local` sets: Powertools' Tracer stays off without an X-Ray daemon.
        "AWS_SAM_LOCAL": "true",
        "AWS_ENDPOINT_URL": aws.moto_url,
        "HABEAS_LOCAL_FUNCTION_ARN": aws.get_att(logical_id, "Arn"),
        **DUMMY_CREDENTIALS,
    }
    env.update(aws.function_env(logical_id))  # the template's variables win, as in Lambda
    return env


class FunctionWorker:
    """One function's container: a subprocess running habeas_local.worker."""

    def __init__(self, aws: EmbeddedAws, logical_id: str) -> None:
        self.aws = aws
        self.logical_id = logical_id
        self.timeout = aws.function_setting(logical_id, "Timeout")
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._responses = -1
        self._buffer = b""
        self._ready = False
        self._closed = False

    # ------------------------------------------------------------------ process
    def start(self) -> None:
        """Start the subprocess if it is not running (does not wait for its init)."""
        with self._lock:
            self._ensure_started()

    def _ensure_started(self) -> None:
        if self._closed:
            raise FunctionError(self.logical_id, "Runtime.Shutdown", "the runtime is stopping")
        if self._process is not None and self._process.poll() is None:
            return
        self._discard()
        assert self.aws.template is not None
        spec = self.aws.template.functions[self.logical_id]
        read_fd, write_fd = os.pipe()
        try:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [
                    sys.executable,
                    "-m",
                    "habeas_local.worker",
                    "--response-fd",
                    str(write_fd),
                    "--handler",
                    spec.handler,
                ],
                stdin=subprocess.PIPE,
                stdout=2,  # handler output is the function's log: the console
                stderr=2,
                env=lambda_environment(self.aws, self.logical_id),
                cwd=str(spec.code_dir),
                pass_fds=(write_fd,),
                # Its own process group: Ctrl-C reaches the runtime, which stops workers in order.
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        self._responses = read_fd
        self._buffer = b""
        self._ready = False

    def _discard(self) -> None:
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            if self._process.stdin:
                self._process.stdin.close()
            self._process = None
        if self._responses >= 0:
            os.close(self._responses)
            self._responses = -1

    def stop(self) -> None:
        """Stop the subprocess: close its stdin, then kill it if it lingers."""
        with self._lock:
            self._closed = True
            process = self._process
            if process is not None and process.poll() is None and process.stdin:
                process.stdin.close()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=3)
            self._discard()

    def _read_line(self, deadline: float) -> dict[str, Any] | None:
        """The next JSON line from the worker, or None at the deadline or if it died."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._responses], [], [], min(remaining, 0.5))
            if not ready:
                continue
            chunk = os.read(self._responses, 65536)
            if not chunk:  # the worker exited
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    # ------------------------------------------------------------------ invoke
    def invoke(self, event: Any) -> Invocation:
        """Run the handler on ``event``; serialised per worker, like one Lambda container."""
        request_id = str(uuid.uuid4())
        with self._lock:
            self._ensure_started()
            assert self._process is not None and self._process.stdin is not None
            if not self._ready:
                hello = self._read_line(time.monotonic() + _INIT_TIMEOUT)
                if hello is None:
                    self._discard()
                    return Invocation(
                        request_id,
                        False,
                        error_type="Runtime.ExitError",
                        error_message="the function's worker did not start",
                    )
                self._ready = True
            started = time.time()
            request = {
                "id": request_id,
                "request_id": request_id,
                "deadline_ms": int((started + self.timeout) * 1000),
                "event": event,
            }
            try:
                self._process.stdin.write((json.dumps(request) + "\n").encode())
                self._process.stdin.flush()
            except (BrokenPipeError, OSError):
                self._discard()
                return Invocation(request_id, False, error_type="Runtime.ExitError", error_message="worker died")
            # A little grace over Timeout for the pipe; past it the sandbox is recycled, as in Lambda.
            response = self._read_line(time.monotonic() + self.timeout + 1.0)
            elapsed = time.time() - started
            if response is None:
                timed_out = self._process.poll() is None
                self._discard()
                if timed_out:
                    return Invocation(
                        request_id,
                        False,
                        error_type="Sandbox.Timedout",
                        error_message=f"Task timed out after {self.timeout:.2f} seconds",
                    )
                return Invocation(
                    request_id,
                    False,
                    error_type="Runtime.ExitError",
                    error_message="the function's worker exited during the invocation",
                )
        log.info("%s %s %.0f ms %s", self.logical_id, request_id, elapsed * 1000, "ok" if response["ok"] else "error")
        if response["ok"]:
            return Invocation(request_id, True, result=response.get("result"))
        return Invocation(
            request_id, False, error_type=response.get("errorType"), error_message=response.get("errorMessage")
        )


class FunctionPool:
    """Every function of the template, each with its own worker."""

    def __init__(self, aws: EmbeddedAws) -> None:
        assert aws.template is not None
        self.aws = aws
        self.workers = {logical_id: FunctionWorker(aws, logical_id) for logical_id in aws.template.functions}

    def warm(self, logical_ids: list[str]) -> None:
        """Start workers now (they import their handlers in parallel)."""
        for logical_id in logical_ids:
            self.workers[logical_id].start()

    def invoke(self, logical_id: str, event: Any) -> Invocation:
        """Invoke a function by logical id."""
        if logical_id not in self.workers:
            raise KeyError(f"{logical_id} is not a function of the template")
        return self.workers[logical_id].invoke(event)

    def stop(self) -> None:
        """Stop every worker."""
        for worker in self.workers.values():
            worker.stop()
