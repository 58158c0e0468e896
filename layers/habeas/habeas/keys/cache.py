"""A bounded in-memory cache of plaintext data keys.

Plaintext keys live only here and in local variables: never in DynamoDB, logs or errors. The cache
is bounded in entries (least recently used goes first) and in age (an entry older than ``max_age``
is dropped on read), so a warm function calls KMS at most once per subject and key version per
cache period, and a shredded key survives in another warm container for at most ``max_age``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DataKey:
    """A subject's plaintext data key of one version (its repr never shows the key)."""

    subject_id: str
    version: int
    plaintext: bytes = field(repr=False)
    kms_key_arn: str = ""


class KeyCache:
    """LRU + max-age cache of ``DataKey`` objects, keyed by any hashable (the keyring uses tuples)."""

    def __init__(
        self,
        *,
        max_entries: int = 1000,
        max_age_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` is monotonic seconds; tests pass a fake one to age entries."""
        if max_entries < 1 or max_age_seconds <= 0:
            raise ValueError("key cache bounds must be positive")
        self.max_entries = max_entries
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, DataKey]] = OrderedDict()
        # Lambda runs one event at a time, but the library may be used from threads (bench, local runtime).
        self._lock = threading.Lock()

    def get(self, cache_key: Hashable) -> DataKey | None:
        """The cached key, or None if absent or older than max age (then it is dropped)."""
        with self._lock:
            entry = self._entries.get(cache_key)
            if entry is None:
                return None
            stored_at, data_key = entry
            if self._clock() - stored_at >= self.max_age_seconds:
                del self._entries[cache_key]
                return None
            self._entries.move_to_end(cache_key)
            return data_key

    def put(self, cache_key: Hashable, data_key: DataKey) -> None:
        """Store a key, evicting the least recently used entries beyond max entries."""
        with self._lock:
            self._entries[cache_key] = (self._clock(), data_key)
            self._entries.move_to_end(cache_key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def evict_subject(self, subject_id: str) -> int:
        """Drop every entry of a subject (keys are tuples starting with the subject id); returns how many."""
        with self._lock:
            doomed = [k for k in self._entries if isinstance(k, tuple) and k and k[0] == subject_id]
            for cache_key in doomed:
                del self._entries[cache_key]
            return len(doomed)

    def clear(self) -> None:
        """Forget every key."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
