"""Data subjects' keys, wrapped by a master key: made on first use, destroyed on erasure.

``AUDIT_MASTER_KEY`` chooses who wraps them: ``local`` (an AES-256 key file under ``var/keys``,
made on first use; the embedded default) or ``kms`` (``Encrypt``/``Decrypt`` with the stack's
KMS key, ``AUDIT_MASTER_KMS_KEY_ID``, the subject bound as encryption context). A destroyed key
is gone from the database (its wrapped form emptied); nothing else holds it, so what it sealed
cannot be opened again, anywhere.
"""

import base64
import hashlib
import os
import secrets
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..adapters import adapter_from_setting
from ..models import SubjectKey

__all__ = ["ADAPTERS", "MasterKey", "destroy_subject_key", "get_master_key", "key_by_id", "subject_key",
           "subject_keys"]

ADAPTERS = {
    "local": "audit_events.privacy.keys.LocalMasterKey",
    "kms": "audit_events.privacy.keys.KMSMasterKey",
}


class MasterKey(ABC):
    """Wraps and unwraps subjects' data keys; ``name`` is recorded with each wrapped key."""

    name: str

    @abstractmethod
    def new_key(self, *, context: str) -> tuple[bytes, bytes]:
        """A new 32-byte data key and its wrapped form, bound to ``context`` (tenant, subject)."""

    @abstractmethod
    def unwrap(self, wrapped: bytes, *, context: str) -> bytes:
        """The data key back; fails when ``context`` differs."""


class LocalMasterKey(MasterKey):
    def __init__(self, path: Path | None = None):
        self.path = Path(path or settings.AUDIT_MASTER_KEY_FILE)
        self._cached: bytes | None = None

    def _key(self) -> bytes:
        if self._cached is None:  # read once: every key a batch seals is unwrapped with it
            self._cached = self._read()
        return self._cached

    def _read(self) -> bytes:
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # owner only, never twice
            with os.fdopen(fd, "wb") as file:
                file.write(AESGCM.generate_key(bit_length=256))
        key = self.path.read_bytes()
        if len(key) != 32:
            raise ImproperlyConfigured(f"{self.path} holds no 32-byte master key")
        return key

    @property
    def name(self) -> str:
        return "local:" + hashlib.sha256(self._key()).hexdigest()[:16]

    def new_key(self, *, context: str) -> tuple[bytes, bytes]:
        data_key, nonce = AESGCM.generate_key(bit_length=256), secrets.token_bytes(12)
        return data_key, nonce + AESGCM(self._key()).encrypt(nonce, data_key, context.encode())

    def unwrap(self, wrapped: bytes, *, context: str) -> bytes:
        return AESGCM(self._key()).decrypt(wrapped[:12], wrapped[12:], context.encode())


class KMSMasterKey(MasterKey):
    def __init__(self, key_id: str | None = None, client=None):
        from ..aws import aws_client

        self.name = key_id or settings.AUDIT_MASTER_KMS_KEY_ID
        if not self.name:
            raise ImproperlyConfigured("AUDIT_MASTER_KEY=kms needs AUDIT_MASTER_KMS_KEY_ID (the stack's DataKey ARN)")
        self.client = client or aws_client("kms")

    def new_key(self, *, context: str) -> tuple[bytes, bytes]:
        # GenerateDataKey, not Encrypt: the stages' roles hold it (and Decrypt) on the stack's DataKey.
        made = self.client.generate_data_key(KeyId=self.name, KeySpec="AES_256",
                                             EncryptionContext={"subject": context})
        return made["Plaintext"], made["CiphertextBlob"]

    def unwrap(self, wrapped: bytes, *, context: str) -> bytes:
        return self.client.decrypt(KeyId=self.name, CiphertextBlob=wrapped,
                                   EncryptionContext={"subject": context})["Plaintext"]


@lru_cache(maxsize=None)
def get_master_key() -> MasterKey:
    """The master key ``settings.AUDIT_MASTER_KEY`` names (built once per process)."""
    return adapter_from_setting("AUDIT_MASTER_KEY", ADAPTERS)


def _context(tenant: str, subject: str) -> str:
    return f"{tenant}\0{subject}"


def subject_key(*, tenant: str, subject: str, using: str = "default") -> tuple[str, bytes] | None:
    """The subject's key id and key, made on first use; ``None`` once it was destroyed (their
    personal data can no longer be sealed, nor read). ``using``: the database the events go to."""
    return subject_keys({(tenant, subject)}, using=using)[(tenant, subject)]


def subject_keys(pairs, *, using: str = "default") -> dict[tuple[str, str], tuple[str, bytes] | None]:
    """``subject_key`` for many (tenant, subject) pairs at once: one read per 200 pairs, and
    the missing keys made together (a batch of events names many subjects)."""
    pairs, found = sorted(set(pairs)), {}
    keys = SubjectKey.objects.using(using)

    def read(chunk):
        where = Q()
        for tenant, subject in chunk:
            where |= Q(tenant=tenant, subject=subject)
        for row in keys.filter(where):
            found[(row.tenant, row.subject)] = None if row.destroyed_at else (row.key_id, _unwrap(row))

    for start in range(0, len(pairs), 200):
        read(pairs[start:start + 200])
    missing = [pair for pair in pairs if pair not in found]
    if missing:
        master = get_master_key()
        made = []
        for tenant, subject in missing:
            _, wrapped = master.new_key(context=_context(tenant, subject))
            made.append(SubjectKey(key_id=secrets.token_hex(16), tenant=tenant, subject=subject,
                                   master_key=master.name, wrapped=base64.b64encode(wrapped).decode()))
        keys.bulk_create(made, ignore_conflicts=True)  # a concurrent first use wins, and is used
        for start in range(0, len(missing), 200):
            read(missing[start:start + 200])
    return found


def key_by_id(key_id: str, using: str = "default") -> bytes | None:
    """The key a sealed value names; ``None`` when it was destroyed (or never existed here)."""
    row = SubjectKey.objects.using(using).filter(key_id=key_id, destroyed_at__isnull=True).first()
    return None if row is None else _unwrap(row)


def _unwrap(row: SubjectKey) -> bytes:
    return get_master_key().unwrap(base64.b64decode(row.wrapped), context=_context(row.tenant, row.subject))


def destroy_subject_key(*, tenant: str, subject: str) -> SubjectKey | None:
    """Destroy the subject's key for good (its wrapped form emptied); the row stays as the
    record that it existed and when it was destroyed. ``None`` when the subject has no key."""
    with transaction.atomic():
        row = SubjectKey.objects.select_for_update().filter(tenant=tenant, subject=subject).first()
        if row is None or row.destroyed_at is not None:
            return row
        row.wrapped, row.destroyed_at = "", timezone.now()
        row.save(update_fields=["wrapped", "destroyed_at"])
    return row
