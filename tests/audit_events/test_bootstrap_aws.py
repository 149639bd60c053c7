"""bootstrap_aws against moto in server mode: the stage's tables (streams, indexes, TTL), buckets
(the archive's Object Lock), topic and queue, as deploy/template.yaml defines them; twice, the
second time making nothing."""

import pytest

from audit_events.aws_resources import template_resources
from tests.conftest import AWS_TEST_ENV
from tests.own_database import manage, portal_env


@pytest.fixture
def aws_env(moto_url, tmp_path):
    stage = f"t{tmp_path.name[-6:].lower().replace('_', '')}"
    env = portal_env(tmp_path, AWS_ENDPOINT_URL=moto_url, **AWS_TEST_ENV, AUDIT_AWS_STAGE=stage,
                     REPORTS_S3_BUCKET=f"{stage}-reports", AUDIT_ARCHIVE_S3_BUCKET=f"{stage}-archive")
    return env, stage


def test_bootstrap_makes_what_the_template_defines_and_is_idempotent(aws_env, aws_client):
    env, stage = aws_env
    first = manage(env, "bootstrap_aws").stdout
    assert first.count("created") == 7 and "exists" not in first
    second = manage(env, "bootstrap_aws").stdout
    assert "created" not in second and second.count("exists") == 7

    dynamodb = aws_client("dynamodb")
    events = dynamodb.describe_table(TableName=f"compliance-portal-{stage}-events")["Table"]
    expected = template_resources()["EventsTable"]["Properties"]
    assert events["KeySchema"] == expected["KeySchema"]
    assert events["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert {i["IndexName"] for i in events["GlobalSecondaryIndexes"]} == {"by-position", "by-tenant-time", "by-actor-time"}
    ttl = dynamodb.describe_time_to_live(TableName=f"compliance-portal-{stage}-views")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"

    s3 = aws_client("s3")
    lock = s3.get_object_lock_configuration(Bucket=f"{stage}-archive")["ObjectLockConfiguration"]
    retention = lock["Rule"]["DefaultRetention"]
    assert (retention["Mode"], retention["Days"]) == ("COMPLIANCE", 2555)
    blocked = s3.get_public_access_block(Bucket=f"{stage}-reports")["PublicAccessBlockConfiguration"]
    assert all(blocked.values())
    topics = [t["TopicArn"] for t in aws_client("sns").list_topics()["Topics"]]
    assert any(arn.endswith(f":compliance-portal-{stage}-alerts") for arn in topics)
    assert aws_client("sqs").get_queue_url(QueueName=f"compliance-portal-{stage}-processor-failures")


def test_an_unreachable_endpoint_is_named_not_a_traceback(tmp_path):
    env = portal_env(tmp_path, AWS_ENDPOINT_URL="http://127.0.0.1:9", **AWS_TEST_ENV, AWS_MAX_ATTEMPTS="1")
    with pytest.raises(AssertionError) as failed:
        manage(env, "bootstrap_aws", timeout=120)
    assert "the AWS endpoint refused" in str(failed.value) and "Traceback" not in str(failed.value)
