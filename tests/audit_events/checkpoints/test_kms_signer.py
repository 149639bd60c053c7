"""Checkpoints signed by an Ed25519 key in KMS (``KMSSigner``), on the AWS test server.

moto lacks the key spec; ``tests/moto_kms_ed25519.py`` teaches it to the test server as AWS
implements it, and the first tests here hold that extension to AWS's behaviour.
"""

import base64
import json

import boto3
import moto
import pytest
from django.core.files.storage import storages
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.exceptions import ImproperlyConfigured

from audit_events.checkpoints.services import archive_name, make_checkpoint, signed_part
from audit_events.checkpoints.signing import get_checkpoint_signer, key_id_of
from audit_events.checkpoints.signing.kms import KMSSigner
from audit_events.models import Checkpoint, SigningKey
from audit_events.projector import catch_up
from audit_events.store import get_event_store
from audit_events.tasks import make_checkpoints
from tests.audit_events.store.contracts import event
from tests.moto_kms_ed25519 import moto_knows_ed25519

ED25519 = {"KeySpec": "ECC_NIST_EDWARDS25519", "KeyUsage": "SIGN_VERIFY"}


@pytest.fixture
def kms(aws_client):
    return aws_client("kms")


@pytest.fixture
def ed25519_arn(kms) -> str:
    return kms.create_key(**ED25519, Description="checkpoints")["KeyMetadata"]["Arn"]


@pytest.fixture(autouse=True)
def fresh_signer():
    """The signer built anew from the settings (the archive is the test's own: tests/conftest.py)."""
    get_checkpoint_signer.cache_clear()
    yield
    get_checkpoint_signer.cache_clear()


def error_of(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["Error"].get("Message", "")


def append(count, tenant="acme"):
    get_event_store().append([event(tenant=tenant, aggregate_id=f"k-{n % 3}", payload={"n": n}, pii=[])
                              for n in range(count)])
    catch_up()


def published_public_key(client, key_id: str) -> Ed25519PublicKey:
    """The key the public keys endpoint lists under ``key_id``."""
    response = client.get("/api/v1/checkpoints/keys")
    assert response.status_code == 200
    (key,) = [k for k in response.json()["keys"] if k["key_id"] == key_id]
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))


# -- the test server's Ed25519 keys, as AWS KMS has them -------------------------------------


def test_moto_still_lacks_ed25519_so_the_test_server_extension_is_still_needed():
    assert not moto_knows_ed25519(), (
        f"moto {moto.__version__} supports KMS key spec ECC_NIST_EDWARDS25519 by itself (5.2.5 did not): "
        "delete tests/moto_kms_ed25519.py and its call in tests/conftest.py (moto_url), then rerun these tests")


def test_an_ed25519_key_describes_itself_and_publishes_its_der_public_key(kms, ed25519_arn):
    metadata = kms.describe_key(KeyId=ed25519_arn)["KeyMetadata"]
    assert (metadata["KeySpec"], metadata["KeyUsage"]) == ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    assert metadata["SigningAlgorithms"] == ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
    answer = kms.get_public_key(KeyId=ed25519_arn)
    assert answer["KeySpec"] == "ECC_NIST_EDWARDS25519" and answer["KeyUsage"] == "SIGN_VERIFY"
    assert answer["SigningAlgorithms"] == ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
    assert len(answer["PublicKey"]) == 44  # SubjectPublicKeyInfo: OID 1.3.101.112 and 32 bytes
    assert isinstance(serialization.load_der_public_key(answer["PublicKey"]), Ed25519PublicKey)


def test_sign_is_pure_ed25519_over_the_raw_message_and_verify_agrees(kms, ed25519_arn):
    message = b"checkpoint bytes \x00\xff"
    answer = kms.sign(KeyId=ed25519_arn, Message=message, MessageType="RAW", SigningAlgorithm="ED25519_SHA_512")
    assert answer["KeyId"] == ed25519_arn and answer["SigningAlgorithm"] == "ED25519_SHA_512"
    assert len(answer["Signature"]) == 64
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=ed25519_arn)["PublicKey"])
    public.verify(answer["Signature"], message)  # raises if not Ed25519 over exactly these bytes
    assert kms.verify(KeyId=ed25519_arn, Message=message, MessageType="RAW", Signature=answer["Signature"],
                      SigningAlgorithm="ED25519_SHA_512")["SignatureValid"] is True
    # AWS answers a bad signature with an error, not SignatureValid=false
    assert error_of(lambda: kms.verify(KeyId=ed25519_arn, Message=message + b"!", MessageType="RAW",
                                       Signature=answer["Signature"], SigningAlgorithm="ED25519_SHA_512"))[0] \
        == "KMSInvalidSignatureException"


@pytest.mark.parametrize("algorithm, message_type, code, message", [
    ("ECDSA_SHA_256", "RAW", "InvalidKeyUsageException",
     "Algorithm ECDSA_SHA_256 is incompatible with key spec ECC_NIST_EDWARDS25519."),
    ("RSASSA_PSS_SHA_512", "RAW", "InvalidKeyUsageException",
     "Algorithm RSASSA_PSS_SHA_512 is incompatible with key spec ECC_NIST_EDWARDS25519."),
    ("ED25519_SHA_512", "DIGEST", "ValidationException",
     "Message type DIGEST is incompatible with algorithm ED25519_SHA_512."),
    ("ED25519_SHA_512", "EXTERNAL_MU", "ValidationException",
     "Message type EXTERNAL_MU is incompatible with algorithm ED25519_SHA_512."),
    ("ED25519_PH_SHA_512", "RAW", "ValidationException",
     "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512."),
])
def test_sign_and_verify_refuse_what_aws_refuses_for_an_ed25519_key(kms, ed25519_arn, algorithm, message_type,
                                                                     code, message):
    digest = hashes.Hash(hashes.SHA512())
    digest.update(b"checkpoint")
    request = {"KeyId": ed25519_arn, "Message": digest.finalize(), "MessageType": message_type,
               "SigningAlgorithm": algorithm}
    assert error_of(lambda: kms.sign(**request)) == (code, message)
    assert error_of(lambda: kms.verify(**request, Signature=b"\x01" * 64)) == (code, message)


def test_prehashed_ed25519_is_listed_but_not_emulated(kms, ed25519_arn):
    """ED25519_PH_SHA_512 takes a 64-byte SHA-512 digest; the test server checks that much and
    then says plainly that it does not sign with it (``cryptography`` has no Ed25519ph)."""
    request = {"KeyId": ed25519_arn, "MessageType": "DIGEST", "SigningAlgorithm": "ED25519_PH_SHA_512"}
    assert error_of(lambda: kms.sign(**request, Message=b"d" * 32)) == (
        "ValidationException", "Digest is invalid length for algorithm ED25519_PH_SHA_512.")
    code, message = error_of(lambda: kms.sign(**request, Message=b"d" * 64))
    assert code == "UnsupportedOperationException" and "does not emulate ED25519_PH_SHA_512" in message


def test_an_ed25519_key_signs_at_most_4096_bytes_and_only_signs(kms, ed25519_arn):
    kms.sign(KeyId=ed25519_arn, Message=b"x" * 4096, MessageType="RAW", SigningAlgorithm="ED25519_SHA_512")
    code, message = error_of(lambda: kms.sign(KeyId=ed25519_arn, Message=b"x" * 4097, MessageType="RAW",
                                              SigningAlgorithm="ED25519_SHA_512"))
    assert code == "ValidationException" and "less than or equal to 4096" in message
    assert error_of(lambda: kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="ENCRYPT_DECRYPT"))[0] \
        == "ValidationException"
    assert error_of(lambda: kms.create_key(KeySpec="ECC_NIST_EDWARDS25519"))[0] == "ValidationException"


def test_other_keys_keep_motos_behaviour_and_now_report_their_key_spec(kms):
    arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    answer = kms.get_public_key(KeyId=arn)
    assert answer["KeySpec"] == "ECC_NIST_P256" and answer["SigningAlgorithms"] == ["ECDSA_SHA_256"]
    signature = kms.sign(KeyId=arn, Message=b"m", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert kms.verify(KeyId=arn, Message=b"m", MessageType="RAW", Signature=signature,
                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True


# -- KMSSigner ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_kms_key_signs_checkpoints_that_verify_against_the_published_key(client, kms, ed25519_arn):
    append(4)
    signer = KMSSigner(key_id=ed25519_arn, client=kms)
    checkpoint = make_checkpoint(tenant="acme", signer=signer)
    document = checkpoint.document
    raw = serialization.load_der_public_key(kms.get_public_key(KeyId=ed25519_arn)["PublicKey"]).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert document["key_id"] == signer.key_id == key_id_of(raw) == checkpoint.key_id
    published_public_key(client, document["key_id"]).verify(base64.b64decode(document["signature"]),
                                                             signed_part(document))
    assert SigningKey.objects.get(key_id=document["key_id"]).source == ed25519_arn  # which KMS key it was


@pytest.mark.django_db
def test_a_kms_key_that_is_not_ed25519_is_refused_before_signing(kms):
    append(2)
    arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    with pytest.raises(ImproperlyConfigured, match=f"KMS key {arn} is ECC_NIST_P256; checkpoints need "
                                                   "an ECC_NIST_EDWARDS25519 key"):
        make_checkpoint(tenant="acme", signer=KMSSigner(key_id=arn, client=kms))
    assert not Checkpoint.objects.exists() and not SigningKey.objects.exists()


def test_kms_signing_without_a_key_id_is_refused_naming_the_setting(settings):
    settings.AUDIT_CHECKPOINT_SIGNER, settings.AUDIT_CHECKPOINT_KMS_KEY_ID = "kms", ""
    with pytest.raises(ImproperlyConfigured, match="AUDIT_CHECKPOINT_SIGNER=kms needs AUDIT_CHECKPOINT_KMS_KEY_ID"):
        get_checkpoint_signer()


@pytest.mark.django_db
def test_the_kms_setting_signs_the_processors_scheduled_checkpoints_end_to_end(client, settings, monkeypatch,
                                                                                 aws_endpoint, ed25519_arn, tmp_path):
    """As the processor stage runs it: settings name the key, boto3 finds the endpoint in the
    environment, the schedule's task signs, and a copy lands in the archive under checkpoints/."""
    settings.AUDIT_CHECKPOINT_SIGNER, settings.AUDIT_CHECKPOINT_KMS_KEY_ID = "kms", ed25519_arn
    append(3)
    append(2, tenant="globex")
    assert isinstance(get_checkpoint_signer(), KMSSigner)
    outcome = make_checkpoints({"source": "aws.events"}, None)
    assert sorted(outcome["checkpoints"], key=lambda c: c["tenant"]) == [
        {"tenant": "acme", "tree_size": 3}, {"tenant": "globex", "tree_size": 2}]
    for checkpoint in Checkpoint.objects.all():
        document = checkpoint.document
        published_public_key(client, document["key_id"]).verify(base64.b64decode(document["signature"]),
                                                                 signed_part(document))
        assert archive_name(document) == f"checkpoints/{checkpoint.tenant}/{checkpoint.tree_size:015d}.json"
        with storages["archive"].open(archive_name(document)) as copy:
            assert json.loads(copy.read()) == document
    (key,) = SigningKey.objects.all()  # one key for both tenants, named by its ARN
    assert key.source == ed25519_arn and key.retired_at is None
    assert boto3.client("kms").describe_key(KeyId=ed25519_arn)["KeyMetadata"]["KeySpec"] == "ECC_NIST_EDWARDS25519"
