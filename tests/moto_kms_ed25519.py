"""Ed25519 keys on the test server's KMS, as AWS KMS has offered them since November 2025.

moto 5.2.5 (the newest on PyPI when this was written) refuses ``KeySpec=ECC_NIST_EDWARDS25519``
and knows neither ``ED25519_SHA_512`` nor ``ED25519_PH_SHA_512``, although botocore's model has
them; checkpoints are signed with such a key (``audit_events.checkpoints.signing.kms``). This
module teaches moto's KMS backend the key, through the narrowest seams it has:

- ``CreateKey``: the key spec is let through moto's check and given an Ed25519 private key
  (``Ed25519PrivateKey`` below, one of moto's ``AbstractPrivateKey``); like AWS, only
  ``KeyUsage=SIGN_VERIFY`` is accepted for it (another is a ``ValidationException``, AWS's error
  code; the message is ours);
- ``DescribeKey``/``GetPublicKey``: the signing algorithms AWS lists for the key; and
  ``GetPublicKey`` answers ``KeySpec`` for every key, as AWS does (moto sends only the
  deprecated ``CustomerMasterKeySpec``);
- ``Sign``/``Verify``: pure Ed25519 (``ED25519_SHA_512``) over a ``RAW`` message of 1 to 4096
  bytes; the combinations AWS refuses are refused with its errors (measured against AWS by
  the floci emulator's maintainers, floci-io/floci#2930): another algorithm is
  ``InvalidKeyUsageException: Algorithm X is incompatible with key spec
  ECC_NIST_EDWARDS25519.``, another message type ``ValidationException: Message type X is
  incompatible with algorithm Y.``; a signature that does not verify fails ``Verify`` with
  ``KMSInvalidSignatureException`` (AWS's documented behaviour; moto answers
  ``SignatureValid: false`` for its own keys). Over 4096 bytes, the message is refused as AWS
  refuses it (moto checks only that it is not empty).

``ED25519_PH_SHA_512`` (Ed25519ph over a SHA-512 digest) is listed, as AWS lists it, and its
message-type rule and digest length are enforced, but signing with it is refused as not emulated: the
``cryptography`` library has no Ed25519ph, and nothing here uses it.

``tests/audit_events/checkpoints/test_kms_signer.py`` fails when moto learns the key spec
itself: then delete this module and its call in ``tests/conftest.py``.
"""

import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from moto.core.exceptions import JsonRESTError
from moto.kms.utils import AbstractPrivateKey

__all__ = ["ED25519_ALGORITHMS", "ED25519_KEY_SPEC", "Ed25519PrivateKey", "moto_knows_ed25519",
           "teach_moto_ed25519"]

ED25519_KEY_SPEC = "ECC_NIST_EDWARDS25519"
#: what AWS lists for the key, and the message type each one requires
ED25519_ALGORITHMS = {"ED25519_SHA_512": "RAW", "ED25519_PH_SHA_512": "DIGEST"}
MESSAGE_LIMIT = 4096  # bytes; KMS's limit for Sign and Verify


def moto_knows_ed25519() -> bool:
    """Whether the installed moto supports the key spec by itself (then this module must go)."""
    from moto.kms.utils import KeySpec, SigningAlgorithm

    return ED25519_KEY_SPEC in KeySpec.key_specs() or bool(
        set(ED25519_ALGORITHMS) & set(SigningAlgorithm.signing_algorithms()))


class Ed25519PrivateKey(AbstractPrivateKey):
    """An Ed25519 key pair, for moto's ``Key.private_key``."""

    def __init__(self):
        self.private_key = ed25519.Ed25519PrivateKey.generate()

    @staticmethod
    def _check_emulated(signing_algorithm: str) -> None:
        if signing_algorithm != "ED25519_SHA_512":
            raise JsonRESTError("UnsupportedOperationException",
                                f"the test server does not emulate {signing_algorithm} (tests/moto_kms_ed25519.py)")

    def sign(self, message: bytes, signing_algorithm: str) -> bytes:
        self._check_emulated(signing_algorithm)
        return self.private_key.sign(message)

    def verify(self, message: bytes, signature: bytes, signing_algorithm: str) -> bool:
        self._check_emulated(signing_algorithm)
        try:
            self.private_key.public_key().verify(signature, message)
        except InvalidSignature:
            raise JsonRESTError("KMSInvalidSignatureException", "") from None
        return True

    def public_key(self) -> bytes:
        """The DER SubjectPublicKeyInfo, as ``GetPublicKey`` returns it (44 bytes, OID 1.3.101.112)."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def check_ed25519_request(*, algorithm: str, message_type: str, message: bytes) -> None:
    """Refuse what AWS KMS refuses for an Ed25519 key in ``Sign`` and ``Verify``."""
    if algorithm not in ED25519_ALGORITHMS:
        raise JsonRESTError("InvalidKeyUsageException",
                            f"Algorithm {algorithm} is incompatible with key spec {ED25519_KEY_SPEC}.")
    if message_type != ED25519_ALGORITHMS[algorithm]:
        raise JsonRESTError("ValidationException",
                            f"Message type {message_type} is incompatible with algorithm {algorithm}.")
    if len(message) > MESSAGE_LIMIT:  # moto checks only the lower bound
        raise JsonRESTError("ValidationException",
                            "1 validation error detected: Value at 'message' failed to satisfy constraint: "
                            f"Member must have length less than or equal to {MESSAGE_LIMIT}")
    if message_type == "DIGEST" and len(message) != 64:
        raise JsonRESTError("ValidationException", f"Digest is invalid length for algorithm {algorithm}.")


def teach_moto_ed25519() -> None:
    """Patch moto's KMS backend and responses (in this process; idempotent)."""
    from moto.kms import models, responses

    if getattr(models.KmsBackend.create_key, "knows_ed25519", False):
        return

    generate_private_key = models.generate_private_key

    def generate_ed25519_too(key_spec: str):
        return Ed25519PrivateKey() if key_spec == ED25519_KEY_SPEC else generate_private_key(key_spec)

    models.generate_private_key = generate_ed25519_too

    ensure_valid_key_spec = models.KmsBackend._KmsBackend__ensure_valid_key_spec
    create_key = models.KmsBackend.create_key

    def ensure_valid_key_spec_or_ed25519(self, key_spec: str) -> None:
        if key_spec != ED25519_KEY_SPEC:
            ensure_valid_key_spec(self, key_spec)

    def create_key_ed25519_for_signing_only(self, policy, key_usage, key_spec, *args, **kwargs):
        if key_spec == ED25519_KEY_SPEC and key_usage != "SIGN_VERIFY":
            raise JsonRESTError("ValidationException", f"KeyUsage {key_usage or 'ENCRYPT_DECRYPT'} is not "
                                                       f"compatible with KeySpec {ED25519_KEY_SPEC}: use SIGN_VERIFY.")
        return create_key(self, policy, key_usage, key_spec, *args, **kwargs)

    create_key_ed25519_for_signing_only.knows_ed25519 = True
    models.KmsBackend._KmsBackend__ensure_valid_key_spec = ensure_valid_key_spec_or_ed25519
    models.KmsBackend.create_key = create_key_ed25519_for_signing_only

    signing_algorithms = models.Key.signing_algorithms

    def signing_algorithms_ed25519_too(self):
        if self.key_spec == ED25519_KEY_SPEC:
            return list(ED25519_ALGORITHMS)
        return signing_algorithms.fget(self)

    models.Key.signing_algorithms = property(signing_algorithms_ed25519_too)

    def refusing_what_kms_refuses(handler):
        def handle(self):
            key_id = self._get_param("KeyId")
            self._validate_key_id(key_id)  # unknown keys: moto's own NotFoundException
            if self.kms_backend.describe_key(key_id).key_spec == ED25519_KEY_SPEC:
                check_ed25519_request(algorithm=self._get_param("SigningAlgorithm"),
                                      message_type=self._get_param("MessageType") or "RAW",
                                      message=self._get_param("Message") or b"")
            return handler(self)

        return handle

    responses.KmsResponse.sign = refusing_what_kms_refuses(responses.KmsResponse.sign)
    responses.KmsResponse.verify = refusing_what_kms_refuses(responses.KmsResponse.verify)

    get_public_key = responses.KmsResponse.get_public_key

    def get_public_key_with_key_spec(self):
        answer = json.loads(get_public_key(self))
        answer.setdefault("KeySpec", answer["CustomerMasterKeySpec"])
        return json.dumps(answer)

    responses.KmsResponse.get_public_key = get_public_key_with_key_spec
