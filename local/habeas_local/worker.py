"""One Lambda "container": imports a handler and runs invocations, one at a time.

Started by the runtime as ``python -m habeas_local.worker --response-fd N`` with exactly the
environment the function would have in Lambda. Requests arrive as JSON lines on stdin; results go
back as JSON lines on fd N, so that anything the handler prints (stdout, stderr, logging) goes to
the console, as it goes to CloudWatch in AWS.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from typing import Any


class LambdaContext:
    """The context object Lambda passes to a Python handler."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("HABEAS_LOCAL_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's Timeout."""
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "ok": False,
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


def _load_handler(spec: str) -> Any:
    module_name, _, function_name = spec.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, function_name)


def main(argv: list[str] | None = None) -> int:
    """Serve invocations until stdin closes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--response-fd", type=int, required=True)
    parser.add_argument("--handler", required=True)
    args = parser.parse_args(argv)
    responses = os.fdopen(args.response_fd, "w", buffering=1, encoding="utf-8")
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    if task_root and task_root not in sys.path:
        sys.path.insert(0, task_root)

    # The init phase: import once per container, as Lambda does; an import error fails every call.
    init_error: dict[str, Any] | None = None
    handler = None
    try:
        handler = _load_handler(args.handler)
    except Exception as exc:  # noqa: BLE001 - reported to the invoker, as Runtime.ImportModuleError
        traceback.print_exc()
        init_error = _error(exc, "Runtime.ImportModuleError")
    responses.write(json.dumps({"ready": init_error is None}) + "\n")

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if init_error is not None:
            response = {**init_error, "id": request["id"]}
        else:
            context = LambdaContext(request["request_id"], request["deadline_ms"])
            try:
                result = handler(request["event"], context)  # type: ignore[misc]
                response = {"ok": True, "result": json.loads(json.dumps(result)), "id": request["id"]}
            except Exception as exc:  # noqa: BLE001 - Lambda reports any handler exception
                # Lambda writes the error to the function's log; so do we.
                traceback.print_exc()
                response = {**_error(exc), "id": request["id"]}
            sys.stdout.flush()
            sys.stderr.flush()
        responses.write(json.dumps(response) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
