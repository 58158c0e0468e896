"""Connectors: find, export, rectify and erase one subject's records in one store of the data map.

Typical use::

    from habeas.connectors import connector_for
    from habeas.datamap import data_map

    for store in data_map().stores.values():
        connector = connector_for(store)
        if connector.applicable():
            outcome = connector.erase(subject_id, request_id=request_id)

One connector per store kind: DynamoDB (partition key or a GSI on the subject id), S3 (the subject's
prefix, every version) and external processors (a signed HTTPS callback). None scans a table or lists
a bucket beyond the subject's own prefix.
"""

from __future__ import annotations

from habeas.connectors.base import Connector, ErasureOutcome, StoreUnavailable
from habeas.connectors.dynamodb import DynamoConnector
from habeas.connectors.external import ExternalProcessorConnector, ProcessorRejected
from habeas.connectors.s3 import S3Connector
from habeas.datamap import Store

_KINDS: dict[str, type[Connector]] = {
    "dynamodb": DynamoConnector,
    "s3": S3Connector,
    "external": ExternalProcessorConnector,
}


def connector_for(store: Store) -> Connector:
    """The connector for ``store``, chosen by its kind."""
    return _KINDS[store.kind](store)


__all__ = [
    "Connector",
    "DynamoConnector",
    "ErasureOutcome",
    "ExternalProcessorConnector",
    "ProcessorRejected",
    "S3Connector",
    "StoreUnavailable",
    "connector_for",
]
