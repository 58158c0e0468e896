"""The embedded DynamoDB checks conditions and writes as one step, as the real service does."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def test_conditional_transactions_from_many_threads_never_lose_an_update(embedded_aws):
    table = embedded_aws.function_env("ApiFunction")["IDEMPOTENCY_TABLE"]
    key = {"id": {"S": "isolation-counter"}}
    dynamodb = embedded_aws.client("dynamodb")
    # moto undoes a failed transaction by restoring a copy of the table: the bigger the table, the
    # wider the window in which an unserialised server loses another thread's write.
    for i in range(0, 400, 25):
        dynamodb.batch_write_item(
            RequestItems={
                table: [
                    {"PutRequest": {"Item": {"id": {"S": f"isolation-filler-{j}-" + "x" * 200}}}}
                    for j in range(i, i + 25)
                ]
            }
        )
    dynamodb.put_item(TableName=table, Item={**key, "n": {"N": "0"}})

    def increment(worker: int) -> int:
        dynamodb = embedded_aws.client("dynamodb")
        won = 0
        for _ in range(20):
            seen = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]["n"]["N"]
            claim = {"id": {"S": f"isolation-event-{int(seen) + 1}"}}
            try:
                dynamodb.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": table,
                                "Key": key,
                                "UpdateExpression": "SET n = :next",
                                "ConditionExpression": "n = :seen",
                                "ExpressionAttributeValues": {":seen": {"N": seen}, ":next": {"N": str(int(seen) + 1)}},
                            }
                        },
                        {
                            "Put": {
                                "TableName": table,
                                "Item": {**claim, "by": {"S": str(worker)}},
                                "ConditionExpression": "attribute_not_exists(id)",
                            }
                        },
                    ]
                )
                won += 1
            except ClientError as error:
                assert error.response["Error"]["Code"] == "TransactionCanceledException"
        return won

    with ThreadPoolExecutor(max_workers=6) as pool:
        successes = sum(pool.map(increment, range(6)))
    final = embedded_aws.client("dynamodb").get_item(TableName=table, Key=key)["Item"]["n"]["N"]
    assert int(final) == successes
