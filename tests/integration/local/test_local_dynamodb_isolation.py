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


def _table_and_client(embedded_aws):
    return embedded_aws.function_env("ApiFunction")["IDEMPOTENCY_TABLE"], embedded_aws.client("dynamodb")


def test_a_cancelled_transaction_writes_nothing_and_names_the_failed_condition(embedded_aws):
    table, dynamodb = _table_and_client(embedded_aws)
    dynamodb.put_item(TableName=table, Item={"id": {"S": "tx-existing"}, "n": {"N": "1"}})
    try:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"id": {"S": "tx-new"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"id": {"S": "tx-existing"}},
                        "UpdateExpression": "SET n = :two",
                        "ConditionExpression": "n = :zero",
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":zero": {"N": "0"}},
                    }
                },
            ]
        )
    except ClientError as error:
        reasons = [r["Code"] for r in error.response["CancellationReasons"]]
        assert reasons == ["None", "ConditionalCheckFailed"]
    else:
        raise AssertionError("the transaction should have been cancelled")
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"id": {"S": "tx-new"}})
    assert dynamodb.get_item(TableName=table, Key={"id": {"S": "tx-existing"}})["Item"]["n"] == {"N": "1"}


def test_a_transaction_failing_half_way_through_its_writes_is_undone(embedded_aws):
    table, dynamodb = _table_and_client(embedded_aws)
    dynamodb.put_item(TableName=table, Item={"id": {"S": "tx-kept"}, "n": {"N": "1"}})
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"id": {"S": "tx-kept"}, "n": {"N": "5"}}}},
                {"Put": {"TableName": table, "Item": {"id": {"S": "tx-undone"}}}},
                {
                    "Update": {  # adding to a string fails only when it is applied
                        "TableName": table,
                        "Key": {"id": {"S": "tx-text"}},
                        "UpdateExpression": "SET t = :s ADD t :one",
                        "ExpressionAttributeValues": {":s": {"S": "x"}, ":one": {"N": "1"}},
                    }
                },
            ]
        )
    assert dynamodb.get_item(TableName=table, Key={"id": {"S": "tx-kept"}})["Item"]["n"] == {"N": "1"}
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"id": {"S": "tx-undone"}})
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"id": {"S": "tx-text"}})
