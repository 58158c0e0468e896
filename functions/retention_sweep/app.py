"""Retention sweep (scheduled): re-stamps after policy changes, expiries, S3 date partitions."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from habeas.config import get_settings
from habeas.observability import logger, metrics, tracer
from habeas.retention import sweep


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    # Stop cleanly this long before Lambda's timeout; the next run continues where this one stopped.
    margin = get_settings().retention_sweep_stop_margin_ms
    return sweep.run(time_left=lambda: context.get_remaining_time_in_millis() > margin)
