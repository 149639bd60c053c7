"""Checkpoint signing with an asymmetric AWS KMS key (``ECC_NIST_EDWARDS25519``, pure
Ed25519: ``ED25519_SHA_512`` over the raw message). The private key never leaves KMS."""

from functools import cached_property

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from ...aws import aws_client
from . import CheckpointSigner

__all__ = ["KMSSigner"]


class KMSSigner(CheckpointSigner):
    def __init__(self, key_id: str | None = None, client=None):
        self.source = key_id or settings.AUDIT_CHECKPOINT_KMS_KEY_ID
        if not self.source:
            raise ImproperlyConfigured("AUDIT_CHECKPOINT_SIGNER=kms needs AUDIT_CHECKPOINT_KMS_KEY_ID (the key's ARN)")
        self.client = client or aws_client("kms")

    @cached_property
    def _public(self) -> bytes:
        answer = self.client.get_public_key(KeyId=self.source)
        if answer.get("KeySpec") != "ECC_NIST_EDWARDS25519":
            raise ImproperlyConfigured(f"KMS key {self.source} is {answer.get('KeySpec')}; checkpoints need "
                                       "an ECC_NIST_EDWARDS25519 key (Ed25519)")
        key = serialization.load_der_public_key(answer["PublicKey"])
        if not isinstance(key, Ed25519PublicKey):
            raise ImproperlyConfigured(f"KMS key {self.source} is not an Ed25519 key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def public_key(self) -> bytes:
        return self._public

    def _sign(self, message: bytes) -> bytes:
        answer = self.client.sign(KeyId=self.source, Message=message, MessageType="RAW",
                                  SigningAlgorithm="ED25519_SHA_512")
        return answer["Signature"]
