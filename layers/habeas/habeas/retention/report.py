"""The retention report: per category, from the counters in RetentionTable (never a scan)."""

from __future__ import annotations

from typing import Any

from habeas import clock
from habeas.datamap import data_map
from habeas.retention import ledger


def build() -> dict[str, Any]:
    """Every category with a policy: items kept, expiring in 30 days, deleted in 30 days; the last sweep."""
    today = clock.now().date()
    categories = []
    for name, category in data_map().categories.items():
        if category.retention is None:
            continue
        categories.append(
            {
                "category": name,
                "days": category.retention.days,
                "minutes": category.retention.minutes,
                "anchor": category.retention.anchor,
                **ledger.category_report(name, today),
            }
        )
    last = ledger.get("sweep", "last")
    if last:
        last = {key: value for key, value in last.items() if key not in ("pk", "sk")}
    return {"categories": categories, "last_sweep": last}
