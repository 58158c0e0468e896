"""Requests worker: one store's part of a data-subject request per message (partial batch failures)."""

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from habeas.observability import logger, metrics, tracer
from habeas.requests.worker import handle_record, processor


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=handle_record, processor=processor, context=context)
