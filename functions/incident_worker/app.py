"""Incident jobs from the queue: assess a breach (affected subjects, drafted notices) or deliver them."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from habeas.incidents import IncidentJobRecord, handle_job
from habeas.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS, model=IncidentJobRecord)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=handle_job, processor=processor, context=context)
