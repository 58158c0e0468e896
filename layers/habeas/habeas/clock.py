"""The one place Habeas reads the time, so tests can move it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_invocation_ends: ContextVar[float | None] = ContextVar("invocation_ends", default=None)


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z suffix and millisecond precision."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@contextmanager
def invocation(context: object) -> Iterator[None]:
    """While one Lambda invocation is handled: its context says how long it has left."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    token = _invocation_ends.set(time.monotonic() + remaining() / 1000 if remaining else None)
    try:
        yield
    finally:
        _invocation_ends.reset(token)


def invocation_time_left() -> float | None:
    """Seconds before the current invocation times out (None outside one)."""
    ends = _invocation_ends.get()
    return None if ends is None else ends - time.monotonic()
