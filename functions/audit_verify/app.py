"""Scheduled audit verification: re-check the hash chains changed since the last run; alert on a break."""

from aws_lambda_powertools.utilities.typing import LambdaContext

from habeas.audit_watch import verify_touched
from habeas.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    # {"full": true} (a manual invoke) re-verifies every chain, not only the changed ones.
    full = bool((event or {}).get("full")) if isinstance(event, dict) else False
    # Leave a quarter of the time (at most 20 s) to finish cleanly; unchecked chains wait for the next run.
    margin = min(20_000, context.get_remaining_time_in_millis() // 4)
    report = verify_touched(full=full, remaining_ms=context.get_remaining_time_in_millis, stop_margin_ms=margin)
    return report.as_dict()
