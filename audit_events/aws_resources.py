"""The AWS resources of a stage, made from ``deploy/template.yaml`` (one source of truth for
their keys, indexes, streams and locks) against any AWS-compatible endpoint: what
``bootstrap_aws`` runs for local runs and tests. Production deploys the template itself.
"""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from django.conf import settings

from .aws import aws_client

__all__ = ["TEMPLATE", "bootstrap_aws", "make_table", "template", "template_resources"]

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "template.yaml"
TABLES = {"events": "EventsTable", "views": "ViewsTable", "alert_state": "AlertStateTable"}


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (``!Ref X`` -> ``{"Ref": X}``, ``!Sub`` -> ``Fn::Sub``…)."""


def _intrinsic(loader, suffix, node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _intrinsic)


@lru_cache(maxsize=1)
def template() -> dict:
    with open(TEMPLATE) as file:
        return yaml.load(file, Loader=_Loader)


def template_resources() -> dict:
    return template()["Resources"]


@dataclass(frozen=True)
class Made:
    kind: str
    name: str
    created: bool

    def __str__(self):
        return f"{'created' if self.created else 'exists '} {self.kind} {self.name}"


def bootstrap_aws() -> list[Made]:
    """Make whatever of the stage's tables, buckets, topic and queue is missing; idempotent."""
    made = [make_table(role, settings.AUDIT_DYNAMODB_TABLES[role]) for role in TABLES]
    if settings.REPORTS_S3_BUCKET:
        made.append(_bucket(settings.REPORTS_S3_BUCKET, locked=False))
    if settings.AUDIT_ARCHIVE_S3_BUCKET:
        made.append(_bucket(settings.AUDIT_ARCHIVE_S3_BUCKET, locked=True))
    sns, sqs = aws_client("sns"), aws_client("sqs")
    topics = {t["TopicArn"].rsplit(":", 1)[1] for page in sns.get_paginator("list_topics").paginate()
              for t in page["Topics"]}
    if settings.AUDIT_ALERTS_TOPIC not in topics:
        sns.create_topic(Name=settings.AUDIT_ALERTS_TOPIC)
    made.append(Made("topic", settings.AUDIT_ALERTS_TOPIC, settings.AUDIT_ALERTS_TOPIC not in topics))
    queues = sqs.list_queues(QueueNamePrefix=settings.AUDIT_PROCESSOR_FAILURES_QUEUE).get("QueueUrls", [])
    exists = any(url.rsplit("/", 1)[1] == settings.AUDIT_PROCESSOR_FAILURES_QUEUE for url in queues)
    if not exists:
        sqs.create_queue(QueueName=settings.AUDIT_PROCESSOR_FAILURES_QUEUE,
                         Attributes={"MessageRetentionPeriod": "1209600"})
    made.append(Made("queue", settings.AUDIT_PROCESSOR_FAILURES_QUEUE, not exists))
    return made


def make_table(role: str, name: str) -> Made:
    """The table of ``role`` (``events``, ``views``, ``alert_state``) named ``name``, as the
    template defines it, unless it exists."""
    props = template_resources()[TABLES[role]]["Properties"]
    dynamodb = aws_client("dynamodb")
    if name in {t for page in dynamodb.get_paginator("list_tables").paginate() for t in page["TableNames"]}:
        return Made(f"table ({role})", name, False)
    spec = {"TableName": name, "BillingMode": props["BillingMode"],
            "AttributeDefinitions": props["AttributeDefinitions"], "KeySchema": props["KeySchema"]}
    if "GlobalSecondaryIndexes" in props:
        spec["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        spec["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    dynamodb.create_table(**spec)
    dynamodb.get_waiter("table_exists").wait(TableName=name)
    if "TimeToLiveSpecification" in props:
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
    return Made(f"table ({role})", name, True)


def _bucket(name: str, *, locked: bool) -> Made:
    s3 = aws_client("s3")
    if name in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        return Made("bucket", name, False)
    region = s3.meta.region_name
    options = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=locked, **options)
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    if locked:
        rule = template_resources()["ArchiveBucket"]["Properties"]["ObjectLockConfiguration"]["Rule"]
        days = template()["Parameters"]["ArchiveRetentionDays"]["Default"]
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": rule["DefaultRetention"]["Mode"], "Days": days}}})
    return Made("bucket", name, True)
