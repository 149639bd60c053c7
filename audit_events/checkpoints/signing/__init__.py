"""The checkpoint-signing port: Ed25519 keys, and where the adapter is chosen.

``AUDIT_CHECKPOINT_SIGNER`` picks it: ``local`` (a key file under ``var/keys``, made on first
use; the embedded default) or ``kms`` (an asymmetric ``ECC_NIST_EDWARDS25519`` key in AWS KMS,
``AUDIT_CHECKPOINT_KMS_KEY_ID``). Every key that signs is published (``SigningKey``) and stays
listed after rotation, so old checkpoints keep verifying.
"""

import base64
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import lru_cache

from django.db import transaction
from django.utils import timezone

from ...adapters import adapter_from_setting
from ...jcs import canonicalize
from ...offline.verify import key_id_of  # the verifier's own definition: ids must agree

__all__ = ["ADAPTERS", "CheckpointSigner", "get_checkpoint_signer", "key_id_of"]

ADAPTERS = {
    "local": "audit_events.checkpoints.signing.local.LocalSigner",
    "kms": "audit_events.checkpoints.signing.kms.KMSSigner",
}


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

    def _signing_key(self) -> tuple[bytes, Callable[[bytes], bytes]]:
        """The public key, and a way to sign with that very key (an adapter whose key can change
        underneath, as a rotated key file, reads it once here)."""
        return self.public_key(), self._sign

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key())

    def sign(self, message: bytes) -> bytes:
        self.publish()
        return self._sign(message)

    def signed(self, body: dict, *, key_field: str = "key_id") -> dict:
        """``body`` with this signer's key id at ``key_field`` and ``signature``, base64 Ed25519
        over the JCS of the rest: the key named is the key that signed, even across a rotation."""
        public, sign = self._signing_key()
        body = body | {key_field: key_id_of(public)}
        self._publish(public)
        return body | {"signature": base64.b64encode(sign(canonicalize(body))).decode()}

    def publish(self) -> None:
        self._publish(self.public_key())

    def _publish(self, public: bytes) -> None:
        """List the key (once); a key signing for the first time retires the ones before it."""
        from ...models import SigningKey

        key_id = key_id_of(public)
        if SigningKey.objects.filter(key_id=key_id).exists():
            return
        with transaction.atomic():
            SigningKey.objects.filter(retired_at__isnull=True).update(retired_at=timezone.now())
            SigningKey.objects.get_or_create(key_id=key_id, defaults={
                "public_key": base64.b64encode(public).decode(), "source": self.source[:300]})


@lru_cache(maxsize=None)
def get_checkpoint_signer() -> CheckpointSigner:
    """The signer ``settings.AUDIT_CHECKPOINT_SIGNER`` names (built once per process)."""
    return adapter_from_setting("AUDIT_CHECKPOINT_SIGNER", ADAPTERS)
