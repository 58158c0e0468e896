"""The one Logger, Tracer and Metrics of every Habeas function (configured by POWERTOOLS_* in the template)."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
