"""Retention cascade: stream records of the data tables and of the holds table, each handled alone."""

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from habeas.observability import logger, metrics, tracer
from habeas.retention.cascade import Cascade, processor


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=Cascade(), processor=processor, context=context)
