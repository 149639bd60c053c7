"""The CloudFormation template (deploy/template.yaml): linted, and the properties the
deployment promises, read from the template itself."""

from pathlib import Path

import pytest
from cfnlint.api import lint_file
from cfnlint.decode import decode

TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "template.yaml"
EVENT_WRITES = {"dynamodb:PutItem", "dynamodb:TransactWriteItems", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate",
                "dynamodb:PartiQLDelete", "dynamodb:*", "*"}


@pytest.fixture(scope="module")
def template() -> dict:
    loaded, problems = decode(str(TEMPLATE))
    assert not problems, problems
    return loaded


@pytest.fixture(scope="module")
def resources(template) -> dict:
    return template["Resources"]


def of_type(resources, kind: str) -> dict:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def refers_to(value, name: str) -> bool:
    """Whether ``value`` (a Ref, GetAtt or Sub) points at resource ``name``."""
    if isinstance(value, dict):
        if value.get("Ref") == name:
            return True
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return (target[0] if isinstance(target, list) else target.split(".")[0]) == name
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return "${" + name + "." in text or "${" + name + "}" in text
        return any(refers_to(v, name) for v in value.values())
    if isinstance(value, list):
        return any(refers_to(v, name) for v in value)
    return False


def statements(policy_document: dict) -> list[dict]:
    found = policy_document["Statement"]
    return found if isinstance(found, list) else [found]


def actions(statement: dict) -> set[str]:
    found = statement["Action"]
    return {found} if isinstance(found, str) else set(found)


def role_statements(resources, role_name: str) -> list[dict]:
    """Every statement in force for the role: its inline policies and the template's managed ones."""
    role = resources[role_name]["Properties"]
    found = [s for p in role.get("Policies", []) for s in statements(p["PolicyDocument"])]
    for arn in role.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn and arn["Ref"] in resources:
            found += statements(resources[arn["Ref"]]["Properties"]["PolicyDocument"])
    return found


def test_cfn_lint_finds_nothing():
    assert [str(m) for m in lint_file(TEMPLATE)] == []


def test_the_events_table_streams_keeps_history_encrypts_and_resists_deletion(resources):
    table = resources["EventsTable"]
    props = table["Properties"]
    assert props["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEType"] == "KMS" and refers_to(props["SSESpecification"], "DataKey")
    assert resources["DataKey"]["Properties"]["EnableKeyRotation"] is True  # customer-managed, rotated
    assert props["DeletionProtectionEnabled"] is True and table["DeletionPolicy"] == "Retain"
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    indexes = {i["IndexName"]: [k["AttributeName"] for k in i["KeySchema"]] for i in props["GlobalSecondaryIndexes"]}
    assert indexes == {"by-position": ["feed_page", "position"], "by-tenant-time": ["tenant", "occurred_key"],
                       "by-actor-time": ["actor_key", "occurred_key"]}


def test_views_and_alert_state_expire_by_ttl(resources):
    for name in ("ViewsTable", "AlertStateTable"):
        ttl = resources[name]["Properties"]["TimeToLiveSpecification"]
        assert ttl == {"AttributeName": "expires_at", "Enabled": True}


def test_buckets_are_private_encrypted_tls_only_and_the_archive_locked_in_compliance_mode(resources):
    policies = of_type(resources, "AWS::S3::BucketPolicy")
    for name in ("ReportsBucket", "ArchiveBucket"):
        props = resources[name]["Properties"]
        assert all(props["PublicAccessBlockConfiguration"].values()) and len(props["PublicAccessBlockConfiguration"]) == 4
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        assert rule["SSEAlgorithm"] == "aws:kms" and refers_to(rule, "DataKey")
        (policy,) = [p for p in policies.values() if refers_to(p["Properties"]["Bucket"], name)]
        (deny,) = statements(policy["Properties"]["PolicyDocument"])
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    archive = resources["ArchiveBucket"]["Properties"]
    assert archive["ObjectLockEnabled"] is True
    assert archive["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"
    assert archive["VersioningConfiguration"]["Status"] == "Enabled"


def test_topic_and_failure_queue_are_encrypted(resources):
    assert refers_to(resources["AlertsTopic"]["Properties"]["KmsMasterKeyId"], "DataKey")
    assert refers_to(resources["ProcessorFailures"]["Properties"]["KmsMasterKeyId"], "DataKey")


def test_the_stream_feeds_the_processor_with_finite_retries_and_a_failure_queue(resources):
    (mapping,) = of_type(resources, "AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert refers_to(props["EventSourceArn"], "EventsTable") and refers_to(props["FunctionName"], "ProcessorFunctionName")
    assert props["BisectBatchOnFunctionError"] is True and props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 0 <= props["MaximumRetryAttempts"] <= 100 and 60 <= props["MaximumRecordAgeInSeconds"] <= 7 * 86400
    assert refers_to(props["DestinationConfig"]["OnFailure"]["Destination"], "ProcessorFailures")


def test_search_is_private_encrypted_and_https_only(resources):
    props = resources["SearchDomain"]["Properties"]
    assert props["EncryptionAtRestOptions"]["Enabled"] is True and refers_to(props["EncryptionAtRestOptions"], "DataKey")
    assert props["NodeToNodeEncryptionOptions"]["Enabled"] is True
    assert props["DomainEndpointOptions"]["EnforceHTTPS"] is True
    assert "VPCOptions" in props


@pytest.mark.parametrize("alarm, namespace, metric", [
    ("EventsThrottledAlarm", "AWS/DynamoDB", "WriteThrottleEvents"),
    ("PortalErrorsAlarm", "AWS/Lambda", "Errors"),
    ("ProcessorErrorsAlarm", "AWS/Lambda", "Errors"),
    ("IteratorAgeAlarm", "AWS/Lambda", "IteratorAge"),
    ("FailureQueueDepthAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible"),
])
def test_alarms_watch_throttling_errors_iterator_age_and_the_failure_queue(resources, alarm, namespace, metric):
    props = resources[alarm]["Properties"]
    assert (props["Namespace"], props["MetricName"]) == (namespace, metric)
    assert refers_to(props["AlarmActions"], "OperationsTopic")


def test_every_role_is_denied_changing_or_deleting_events(resources):
    roles = of_type(resources, "AWS::IAM::Role")
    assert set(roles) == {"PortalRole", "ProcessorRole", "PublisherRole"}
    for name in roles:
        denies = [s for s in role_statements(resources, name) if s["Effect"] == "Deny"
                  and refers_to(s["Resource"], "EventsTable")]
        denied = set().union(*(actions(s) for s in denies))
        assert {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} <= denied, name


def test_only_the_publisher_path_writes_events(resources):
    """The publisher role appends any tenant's events; the portal only its own access audit
    (the "_portal" tenant's chains, with their guards and the feed counter); nothing else writes."""
    for name in of_type(resources, "AWS::IAM::Role"):
        granting = [s for s in role_statements(resources, name) if s["Effect"] == "Allow"
                    and refers_to(s["Resource"], "EventsTable") and actions(s) & EVENT_WRITES]
        writes = {a for s in granting for a in actions(s)} & EVENT_WRITES
        assert writes == ({"dynamodb:PutItem"} if name in ("PublisherRole", "PortalRole") else set()), name
        if name == "PortalRole":
            (statement,) = granting
            keys = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
            assert sorted(keys) == ["#feed", "E#*", "_portal/*"]
        if name == "PublisherRole":
            assert all("Condition" not in s for s in granting)


def test_the_functions_read_the_app_secret_and_the_database_secret_rds_manages(resources):
    for name in ("PortalRole", "ProcessorRole", "PublisherRole"):
        (statement,) = [s for s in role_statements(resources, name) if "secretsmanager:GetSecretValue" in actions(s)]
        assert refers_to(statement["Resource"], "AppSecret") and refers_to(statement["Resource"], "Database")
    assert refers_to(resources["AppSecret"]["Properties"]["KmsKeyId"], "DataKey")


def test_no_role_is_granted_wildcard_actions(resources):
    for name in of_type(resources, "AWS::IAM::Role"):
        for statement in role_statements(resources, name):
            if statement["Effect"] == "Allow":
                assert not any(a == "*" or a.endswith(":*") for a in actions(statement)), (name, statement)


def test_the_checkpoint_key_is_ed25519_kept_and_only_the_processor_may_sign_with_it(template, resources):
    """Checkpoints are signed in KMS (``AUDIT_CHECKPOINT_SIGNER=kms``) by the processor stage's
    schedule; a signature nobody else could have made is the point, so the key's own policy
    refuses ``kms:Sign`` to every other principal, and no other role is granted the key."""
    key = resources["CheckpointSigningKey"]
    props = key["Properties"]
    assert (props["KeySpec"], props["KeyUsage"]) == ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    assert not props.get("EnableKeyRotation", False)  # KMS rotates no asymmetric key: rotation is a new key
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    (deny,) = [s for s in statements(props["KeyPolicy"]) if s["Effect"] == "Deny"]
    assert actions(deny) == {"kms:Sign"} and deny["Principal"] == "*"
    processor_arn = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]["Fn::Sub"]
    assert processor_arn.endswith(":role/" + resources["ProcessorRole"]["Properties"]["RoleName"]["Fn::Sub"])
    granted = {name: set().union(*(actions(s) for s in role_statements(resources, name)
                                   if s["Effect"] == "Allow" and refers_to(s["Resource"], "CheckpointSigningKey")))
               for name in of_type(resources, "AWS::IAM::Role")}
    assert granted == {"PortalRole": set(), "ProcessorRole": {"kms:Sign", "kms:GetPublicKey"}, "PublisherRole": set()}
    signing = {name: s["Resource"] for name in granted for s in role_statements(resources, name)
               if s["Effect"] == "Allow" and "kms:Sign" in actions(s)}
    assert signing == {"ProcessorRole": {"Fn::GetAtt": ["CheckpointSigningKey", "Arn"]}}  # that key alone
    assert refers_to(template["Outputs"]["CheckpointSigningKeyArn"]["Value"], "CheckpointSigningKey")


def test_the_processor_writes_the_checkpoint_copies_to_the_archive(resources):
    """``make_checkpoint`` writes each checkpoint to the archive bucket under ``checkpoints/``
    before its transaction commits: the processor's role must be able to put and read there."""
    (statement,) = [s for s in role_statements(resources, "ProcessorRole") if s["Effect"] == "Allow"
                    and "s3:PutObject" in actions(s) and refers_to(s["Resource"], "ArchiveBucket")]
    assert {"s3:PutObject", "s3:GetObject"} <= actions(statement)
    assert statement["Resource"] == {"Fn::Sub": "${ArchiveBucket.Arn}/*"}  # checkpoints/ among the rest
