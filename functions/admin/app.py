"""Staff console routes."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from habeas import http
from habeas.apps import admin_app, staff_authenticator
from habeas.idempotency import register_lambda_context
from habeas.observability import logger, metrics, tracer


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    register_lambda_context(context)
    return http.resolve(admin_app(), event, context, staff_authenticator)
