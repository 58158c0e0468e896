"""``python -m habeas_local`` (``make run``): serve the whole API on 127.0.0.1:$HABEAS_PORT."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from habeas_local.runtime import LocalRuntime


def main(argv: list[str] | None = None) -> int:
    """Start the runtime, print where it is, serve until Ctrl-C or SIGTERM, stop cleanly."""
    parser = argparse.ArgumentParser(prog="python -m habeas_local", description=__doc__)
    parser.add_argument("--template", default=os.environ.get("HABEAS_TEMPLATE", "template.yaml"))
    parser.add_argument("--port", type=int, default=None, help="default: $HABEAS_PORT or 3000")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter override (also HABEAS_PARAM_<Name>)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("HABEAS_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    os.environ.setdefault("AWS_DEFAULT_REGION", os.environ.get("AWS_REGION", "us-east-1"))
    params = dict(p.split("=", 1) for p in args.param)

    stop = threading.Event()
    # Both signals end the serve loop; the runtime then stops its parts in order.
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    started = time.monotonic()
    runtime = LocalRuntime(Path(args.template), port=args.port, params=params)
    runtime.start()
    try:
        routes = len(runtime.routes)
        print(f"Habeas local runtime on {runtime.url} (embedded AWS {runtime.moto_url})", flush=True)
        print(
            f"created {runtime.aws.summary()}; {routes} routes, {len(runtime.functions.workers)} functions, "
            f"{len(runtime.sources)} event sources; ready in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
        print("stopping", flush=True)
    finally:
        runtime.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
