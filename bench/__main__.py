"""Run every ``bench/*_bench.py`` module's ``main()`` in name order; a failing bench does not stop the rest."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path


def main() -> int:
    """Run the benches; exit status 1 if any of them raised."""
    # The figures are the output: the library's own INFO lines (one per deleted item...) are not.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    failed = []
    for path in sorted(Path(__file__).resolve().parent.glob("*_bench.py")):
        name = f"bench.{path.stem}"
        print(f"\n### {name}", flush=True)
        try:
            importlib.import_module(name).main()
        except Exception:  # noqa: BLE001 - report it and go on with the next bench
            traceback.print_exc()
            failed.append(name)
        sys.stdout.flush()
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
