"""Deployment settings, read from the environment the template gives each function.

Built lazily on first use (never at import), so tests can set the environment first. Each function
only gets the variables it needs; ``Settings.require`` fails loudly, naming the missing variable.
"""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(RuntimeError):
    """A setting this code path needs is missing from the function's environment."""


class Settings(BaseSettings):
    """Every setting Habeas reads; which ones a function has depends on its template entry."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    deployment: str = Field("habeas", alias="HABEAS_DEPLOYMENT")
    subjects_table: str | None = None
    identifiers_table: str | None = None
    verifications_table: str | None = None
    consents_table: str | None = None
    audit_table: str | None = None
    idempotency_table: str | None = None
    keyring_table: str | None = None
    kms_key_arn: str | None = None
    token_signing_secret_arn: str | None = None
    blind_index_secret_arn: str | None = None
    sender_email: str | None = None
    channel_secret_arn: str | None = None
    graph_api_base_url: str | None = None
    default_regulation: str = "gdpr"
    staff_token_issuer: str | None = None
    staff_token_audience: str | None = None

    subject_token_ttl_seconds: int = Field(900, ge=60, le=3600)
    verification_max_attempts: int = Field(5, ge=1, le=20)
    verifications_per_identifier_per_hour: int = Field(5, ge=1, le=100)
    max_body_bytes: int = 256 * 1024
    secret_cache_seconds: int = 300

    # Messaging channels (webhook and worker).
    conversations_table: str | None = None
    inbound_queue_url: str | None = None
    channel_receipt_ttl_seconds: int = Field(8 * 24 * 3600, ge=3600, le=30 * 24 * 3600)
    channel_keep_original_text: bool = False
    channel_confirmation_ttl_seconds: int = Field(600, ge=60, le=24 * 3600)

    # Data-subject requests (issue 4).
    requests_table: str | None = None
    requests_queue_url: str | None = None
    requests_dlq_url: str | None = None
    exports_bucket: str | None = None
    certificate_key_arn: str | None = None
    # Answer deadline per regulation, ISO 8601 "PnM" (calendar months) or "PnD" (days).
    request_deadlines: dict[str, str] = {"gdpr": "P1M", "lgpd": "P15D", "ccpa": "P45D"}
    request_max_attempts: int = Field(4, ge=1, le=20)  # per store; below the queue's maxReceiveCount
    export_url_ttl_seconds: int = Field(900, ge=60, le=3600)

    # Retention and legal holds (issue 6).
    holds_table: str | None = None
    retention_table: str | None = None
    attachments_bucket: str | None = None
    retention_sweep_page_size: int = Field(100, ge=1, le=1000)
    retention_sweep_lease_seconds: int = Field(900, ge=5, le=3600)
    # Data map stores whose tables have the by_retention index (template.yaml).
    retention_sweep_stores: list[str] = ["conversations", "profiles", "identifiers", "consent_ledger", "audit_log"]
    retention_sweep_stop_margin_ms: int = Field(30_000, ge=0, le=300_000)  # stop before Lambda's timeout

    # Staff console: allowlist, masking views, alerts, audit verification, incidents (issue 7).
    staff_allowed_cidrs: str = "0.0.0.0/0,::/0"
    staff_view_conversations: int = Field(20, ge=1, le=100)
    alerts_table: str | None = None
    alerts_topic_arn: str | None = None
    alerts_event_bus: str = "default"
    alert_rules_path: str | None = None
    incidents_table: str | None = None
    incident_jobs_queue_url: str | None = None
    incident_gdpr_authority_hours: int = Field(72, ge=1, le=24 * 30)
    incident_anpd_business_days: int = Field(3, ge=1, le=30)

    def require(self, name: str) -> str:
        """The value of setting ``name``, or a ConfigurationError naming its variable."""
        value = getattr(self, name)
        if not value:
            field = type(self).model_fields[name]
            raise ConfigurationError(f"missing setting {field.alias or name.upper()}")
        return str(value)


@functools.cache
def get_settings() -> Settings:
    """The settings of this container, built on first use."""
    return Settings()
