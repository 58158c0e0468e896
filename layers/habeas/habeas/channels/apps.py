"""What the two channel functions run: the webhook HTTP app and the worker's batch processor."""

from __future__ import annotations

import functools

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from habeas.apps import build
from habeas.routes.channels import CHANNEL_ROUTERS


@functools.cache
def channels_app() -> APIGatewayHttpResolver:
    """The webhook endpoints of every channel."""
    return build(CHANNEL_ROUTERS)
