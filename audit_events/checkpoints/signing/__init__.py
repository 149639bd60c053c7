"""The checkpoint-signing port: Ed25519 keys, and where the adapter is chosen.

``AUDIT_CHECKPOINT_SIGNER`` picks it: ``local`` (a key file under ``var/keys``, made on first
use; the embedded default) or ``kms`` (an asymmetric ``ECC_NIST_EDWARDS25519`` key in AWS KMS,
``AUDIT_CHECKPOINT_KMS_KEY_ID``). Every key that signs is published (``SigningKey``) and stays
listed after rotation, so old checkpoints keep verifying.
"""

import base64
import hashlib
from abc import ABC, abstractmethod
from functools import lru_cache

from django.db import transaction
from django.utils import timezone

from ...adapters import adapter_from_setting

__all__ = ["ADAPTERS", "CheckpointSigner", "get_checkpoint_signer", "key_id_of"]

ADAPTERS = {
    "local": "audit_events.checkpoints.signing.local.LocalSigner",
    "kms": "audit_events.checkpoints.signing.kms.KMSSigner",
}


def key_id_of(public_key: bytes) -> str:
    """A key's id: the first 16 hex digits of SHA-256 of its raw public key."""
    return hashlib.sha256(public_key).hexdigest()[:16]


class CheckpointSigner(ABC):
    """Signs checkpoint bytes with one Ed25519 key."""

    #: what ``SigningKey.source`` records (``local``, or the KMS key's id)
    source: str

    @abstractmethod
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""

    @abstractmethod
    def _sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key())

    def sign(self, message: bytes) -> bytes:
        self.publish()
        return self._sign(message)

    def publish(self) -> None:
        """List this key (once); a key signing for the first time retires the ones before it."""
        from ...models import SigningKey

        key_id = self.key_id
        if SigningKey.objects.filter(key_id=key_id).exists():
            return
        with transaction.atomic():
            SigningKey.objects.filter(retired_at__isnull=True).update(retired_at=timezone.now())
            SigningKey.objects.get_or_create(key_id=key_id, defaults={
                "public_key": base64.b64encode(self.public_key()).decode(), "source": self.source[:300]})


@lru_cache(maxsize=None)
def get_checkpoint_signer() -> CheckpointSigner:
    """The signer ``settings.AUDIT_CHECKPOINT_SIGNER`` names (built once per process)."""
    return adapter_from_setting("AUDIT_CHECKPOINT_SIGNER", ADAPTERS)
