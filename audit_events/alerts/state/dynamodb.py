"""Alert state in DynamoDB (the stack's ``AlertStateTable``): one item per rule and key.

``pk`` is ``rule#<id>``, ``sk`` the key; the state is kept as JSON text (no Decimal round
trip), with a ``version`` number that each save must still find (a conditional put: two
processor invocations may evaluate the same key at once) and ``expires_at`` in epoch seconds,
which the table's TTL reads. TTL deletes lazily, so loads ignore an expired item themselves.
"""

import json
import time
from datetime import datetime
from typing import Any, Iterator

from django.conf import settings

from ...aws import aws_client
from . import AlertStateStore, StateConflictError

__all__ = ["DynamoDBAlertState"]


class DynamoDBAlertState(AlertStateStore):
    def __init__(self, table: str | None = None, client=None):
        self.table = table or settings.AUDIT_DYNAMODB_TABLES["alert_state"]
        self.client = client or aws_client("dynamodb")

    def load(self, rule_id: int, key: str) -> tuple[dict, Any]:
        item = self.client.get_item(TableName=self.table, Key=_key(rule_id, key), ConsistentRead=True).get("Item")
        if item is None:
            return {}, None
        version = int(item["version"]["N"])
        return ({} if _expired(item) else json.loads(item["state"]["S"])), version

    def save(self, rule_id: int, key: str, state: dict, *, version: Any, expires_at: datetime) -> None:
        item = _key(rule_id, key) | {
            "state": {"S": json.dumps(state, separators=(",", ":"))},
            "version": {"N": str(0 if version is None else version + 1)},
            "expires_at": {"N": str(int(expires_at.timestamp()))},
        }
        if version is None:
            condition = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {"ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": {"N": str(version)}}}
        try:
            self.client.put_item(TableName=self.table, Item=item, **condition)
        except self.client.exceptions.ConditionalCheckFailedException:
            raise StateConflictError(f"rule {rule_id} key {key!r}: changed by another writer") from None

    def keys(self, rule_id: int) -> Iterator[tuple[str, dict, Any]]:
        pages = self.client.get_paginator("query").paginate(
            TableName=self.table, ConsistentRead=True, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"rule#{rule_id}"}})
        for page in pages:
            for item in page["Items"]:
                if not _expired(item):
                    yield item["sk"]["S"], json.loads(item["state"]["S"]), int(item["version"]["N"])

    def clear(self) -> None:
        for page in self.client.get_paginator("scan").paginate(TableName=self.table, ProjectionExpression="pk, sk"):
            for item in page["Items"]:
                self.client.delete_item(TableName=self.table, Key={"pk": item["pk"], "sk": item["sk"]})


def _key(rule_id: int, key: str) -> dict:
    return {"pk": {"S": f"rule#{rule_id}"}, "sk": {"S": key}}


def _expired(item: dict) -> bool:
    return int(item["expires_at"]["N"]) <= time.time()
