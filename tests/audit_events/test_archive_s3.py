"""Daily archives in S3 (django-storages) against moto in server mode: a bucket with Object
Lock in compliance mode, objects encrypted with KMS, the manifest's hash that of the file."""

import gzip
import hashlib
import json
from datetime import date, timedelta

import pytest

from audit_events.archive import export_archive
from audit_events.store import get_event_store
from tests.audit_events.store.contracts import event


@pytest.fixture
def archive_bucket(moto_url, settings, aws_credentials, aws_client):
    """A locked bucket of the test's own (its objects cannot be deleted), as the archive storage."""
    import uuid

    bucket = f"portal-archive-{uuid.uuid4().hex[:8]}"
    s3 = aws_client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
                     ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2555}}})
    # The same shape portal.settings builds from AUDIT_ARCHIVE_S3_BUCKET.
    settings.STORAGES = {**settings.STORAGES, "archive": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": bucket, "default_acl": None, "file_overwrite": False,
                    "object_parameters": {"ServerSideEncryption": "aws:kms"},
                    "endpoint_url": moto_url, "region_name": "eu-west-1"}}}
    s3.bucket = bucket
    return s3


@pytest.mark.django_db
def test_a_day_goes_to_the_locked_bucket_with_a_manifest_of_its_hash(archive_bucket):
    store = get_event_store()
    store.append([event(aggregate_id=f"arch-{n}", pii=[], payload={"n": n}) for n in range(5)])
    tomorrow = date.today() + timedelta(days=1)
    (day,) = export_archive(store, before=tomorrow)
    assert day.events == 5
    s3 = archive_bucket
    manifest = json.loads(s3.get_object(Bucket=s3.bucket, Key=f"manifests/{day.day}.json")["Body"].read())
    stored = s3.get_object(Bucket=s3.bucket, Key=manifest["file"])
    body = stored["Body"].read()
    assert hashlib.sha256(body).hexdigest() == manifest["sha256"] and manifest["events"] == 5
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert stored["ObjectLockMode"] == "COMPLIANCE"  # the bucket's default retention applies
    lines = gzip.decompress(body).splitlines()
    assert [json.loads(line)["hash"] for line in lines] == [e.hash for e in store.read_all()]
    assert export_archive(store, before=tomorrow) == []  # nothing new: nothing written


@pytest.mark.django_db
@pytest.mark.parametrize("audit_store", ["dynamodb"], indirect=True)
def test_the_daily_schedule_archives_yesterday_from_the_dynamodb_store(archive_bucket, monkeypatch):
    """What the processor stage's scheduled event runs: every whole day not archived yet."""
    from datetime import datetime, timezone

    from django.utils import timezone as django_timezone

    from audit_events.tasks import export_daily_archive

    yesterday = datetime.now(timezone.utc) - timedelta(days=1)
    with monkeypatch.context() as clock:
        clock.setattr(django_timezone, "now", lambda: yesterday)
        get_event_store().append([event(aggregate_id=f"d-{n}", pii=[], payload={"n": n}) for n in range(3)])
    get_event_store().append([event(aggregate_id="today", pii=[], payload={"n": 9})])  # not a whole day yet
    assert export_daily_archive({}, None) == {"archived": [{"day": yesterday.date().isoformat(), "events": 3}]}
    assert export_daily_archive({}, None) == {"archived": []}
