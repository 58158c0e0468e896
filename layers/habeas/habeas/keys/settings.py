"""Settings of the keys package (cache bounds, rotation age), read lazily from the environment."""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KeySettings(BaseSettings):
    """Knobs with safe defaults; the table, KMS key and deployment come from ``habeas.config``."""

    model_config = SettingsConfigDict(extra="ignore")

    # 5 minutes bounds how long a shredded key may linger in another warm container.
    key_cache_max_entries: int = Field(1000, ge=1, le=100_000)
    key_cache_max_age_seconds: float = Field(300, gt=0, le=3600)
    key_max_age_days: float = Field(90, gt=0)
    # Items re-encrypted per DynamoDB page while rotating one subject.
    key_rotation_batch_size: int = Field(100, ge=1, le=1000)
    # The scheduled run starts no new subject once less than this is left before the Lambda timeout.
    key_rotation_stop_margin_ms: int = Field(30_000, ge=0)
    # JSON list of field stores (see habeas.keys.stores.stores_from_json); the data map will own this.
    encrypted_field_stores: str | None = None


@functools.cache
def get_key_settings() -> KeySettings:
    """The keys settings of this container, built on first use."""
    return KeySettings()
