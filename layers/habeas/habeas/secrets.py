"""Secrets from Secrets Manager, cached per container by Powertools' parameters utility."""

from __future__ import annotations

import json

from aws_lambda_powertools.utilities import parameters

from habeas.config import get_settings


def secret_bytes(setting: str) -> bytes:
    """The secret named by the ARN in ``setting`` (e.g. ``token_signing_secret_arn``), as bytes."""
    settings = get_settings()
    value = parameters.get_secret(settings.require(setting), max_age=settings.secret_cache_seconds)
    return value.encode() if isinstance(value, str) else bytes(value)


def secret_json(setting: str) -> dict:
    """A JSON secret (e.g. the channel secret) as a dict."""
    return json.loads(secret_bytes(setting))
