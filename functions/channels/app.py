"""Channel webhooks: the Meta handshake and signed deliveries, queued for the worker."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from habeas import http
from habeas.channels.apps import channels_app
from habeas.observability import logger, metrics, tracer
from habeas.routes.channels import channel_authenticator


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return http.resolve(channels_app(), event, context, channel_authenticator)
