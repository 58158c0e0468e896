"""Scheduled key rotation: give subjects with old data keys a new version and move their fields."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from habeas.keys import run_scheduled_rotation
from habeas.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    # Stop starting subjects while 30 s remain, so a run ends cleanly; the next run resumes.
    return run_scheduled_rotation(context.get_remaining_time_in_millis)
