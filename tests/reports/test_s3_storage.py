"""Report files in S3 (django-storages) against moto in server mode: private, KMS-encrypted,
downloaded through a presigned URL that lasts five minutes."""

import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from reports.models import ReportJob


@pytest.fixture
def s3_reports(moto_url, settings, aws_credentials, aws_client):
    kms = aws_client("kms")
    key_id = kms.create_key(Description="reports")["KeyMetadata"]["KeyId"]
    s3 = aws_client("s3")
    s3.create_bucket(Bucket="portal-reports", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    # The same shape portal.settings builds from REPORTS_S3_BUCKET and REPORTS_KMS_KEY_ID.
    settings.STORAGES = {**settings.STORAGES, "reports": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": "portal-reports", "location": "reports", "default_acl": None,
                    "object_parameters": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_id},
                    "querystring_auth": True, "querystring_expire": 300, "file_overwrite": False,
                    "signature_version": "s3v4", "endpoint_url": moto_url, "region_name": "eu-west-1"}}}
    return s3, key_id


def test_reports_in_s3_are_encrypted_private_and_downloaded_by_a_short_presigned_url(
        client, exporter, run_worker, history, s3_reports):
    s3, key_id = s3_reports
    exporter()
    answer = client.post("/api/v1/reports", {"type": "integrity", "format": "csv", "params": {}},
                         content_type="application/json")
    run_worker()
    job = ReportJob.objects.get(pk=answer.json()["id"])
    assert job.status == "done", job.error
    stored = s3.head_object(Bucket="portal-reports", Key=f"reports/{job.file_name}")
    assert stored["ServerSideEncryption"] == "aws:kms" and key_id in stored["SSEKMSKeyId"]
    grants = s3.get_object_acl(Bucket="portal-reports", Key=f"reports/{job.file_name}")["Grants"]
    assert all("AllUsers" not in str(g["Grantee"]) for g in grants)  # private

    download = client.get(f"/api/v1/reports/{job.pk}/download")
    assert download.status_code == 302
    query = parse_qs(urlsplit(download["Location"]).query)
    assert query["X-Amz-Expires"] == ["300"] and "attachment" in query["response-content-disposition"][0]
    with urllib.request.urlopen(download["Location"]) as response:
        body = response.read()
    assert body.startswith(b"\xef\xbb\xbfsection,checked_at") and len(body) == job.size
