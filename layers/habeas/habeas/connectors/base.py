"""What every connector offers for one subject in one store: find, export, rectify, erase."""

from __future__ import annotations

import base64
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from habeas.datamap import Store
from habeas.errors import HabeasError


class StoreUnavailable(HabeasError):
    """A store kept failing (throttled writes, a processor down); the caller retries the store's part later."""

    status, title, slug = 503, "Store unavailable", "store-unavailable"


@dataclass(frozen=True)
class ErasureOutcome:
    """What an erasure did in one store: the strategy applied and how many records it touched."""

    strategy: str
    count: int
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. an external processor's answer status


class Connector(ABC):
    """Acts on one subject's records in one store of the data map; never scans beyond them."""

    def __init__(self, store: Store, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self.sleep = sleep

    def applicable(self) -> bool:
        """False if this deployment does not use the store (an external processor with no endpoint)."""
        return True

    @abstractmethod
    def find(self, subject_id: str) -> int:
        """How many erasable records of the subject are still present (0 after a good erasure)."""

    @abstractmethod
    def export(self, subject_id: str) -> list[dict[str, Any]]:
        """The subject's records, encrypted fields decrypted, expired ones left out."""

    @abstractmethod
    def rectify(self, subject_id: str, changes: dict[str, str], *, request_id: str | None = None) -> int:
        """Apply ``changes`` to the fields of this store; returns the number of records changed."""

    @abstractmethod
    def erase(self, subject_id: str, *, request_id: str) -> ErasureOutcome:
        """Apply the store's erasure strategy; idempotent (a second call counts 0)."""

    def backoff(self, attempt: int, *, base: float = 0.05, cap: float = 2.0) -> None:
        """Sleep before retry ``attempt`` (0-based): exponential with full jitter."""
        self.sleep(random.uniform(0, min(cap, base * 2**attempt)))  # noqa: S311 - jitter, not crypto


def json_safe(value: Any) -> Any:
    """A JSON-serialisable copy (bytes as base64)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3 Binary
        return base64.b64encode(value.value).decode("ascii")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    return value
