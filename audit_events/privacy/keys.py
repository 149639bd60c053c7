"""Data subjects' keys, wrapped by a master key: made on first use, destroyed on erasure.

``AUDIT_MASTER_KEY`` chooses who wraps them: ``local`` (an AES-256 key file under ``var/keys``,
made on first use; the embedded default) or ``kms`` (``GenerateDataKey``/``Decrypt`` with the
stack's KMS key, ``AUDIT_MASTER_KMS_KEY_ID``, the subject bound as encryption context). A
destroyed key is gone from the database (its wrapped form emptied), so what it sealed cannot be
opened again, anywhere: every use reads the key's row first. (A process that unwrapped it may
still hold it in memory, unused, until ``_Unwrapped`` drops it: see there.)
"""

import base64
import hashlib
import os
import secrets
import threading
import time
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.utils import timezone

from ..adapters import adapter_from_setting
from ..models import SubjectKey

__all__ = ["ADAPTERS", "MasterKey", "destroy_subject_key", "get_master_key", "key_by_id", "keys_by_id", "subject_key",
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
    """``subject_key`` for many (tenant, subject) pairs at once: one read per tenant and 500
    subjects, and the missing keys made together (a batch of events names many subjects).

    The rows are read every time, so a destroyed key is never used; only unwrapping, which is a
    KMS call in AWS, is spared by the process's cache of unwrapped keys (``_Unwrapped``)."""
    pairs, found = sorted(set(pairs)), {}

    def read(wanted):
        by_tenant: dict[str, list[str]] = {}
        for tenant, subject in wanted:
            by_tenant.setdefault(tenant, []).append(subject)
        for tenant, subjects in by_tenant.items():
            for start in range(0, len(subjects), 500):
                rows = SubjectKey.objects.using(using).filter(tenant=tenant, subject__in=subjects[start:start + 500])
                for key_id, subject, wrapped, destroyed_at in rows.values_list(
                        "key_id", "subject", "wrapped", "destroyed_at"):
                    if destroyed_at:  # erased, perhaps by another process: not kept here either
                        UNWRAPPED.forget(key_id)
                        found[(tenant, subject)] = None
                    else:
                        found[(tenant, subject)] = (key_id, UNWRAPPED.get(key_id, wrapped, tenant=tenant,
                                                                            subject=subject))

    read(pairs)
    missing = [pair for pair in pairs if pair not in found]
    if missing:
        master = get_master_key()
        made = []
        for tenant, subject in missing:
            plain, wrapped = master.new_key(context=_context(tenant, subject))
            key_id, wrapped = secrets.token_hex(16), base64.b64encode(wrapped).decode()
            UNWRAPPED.put(key_id, wrapped, plain)  # unused (and soon dropped) if a concurrent one won
            made.append((key_id, tenant, subject, wrapped, master.name))
        _insert_new(made, using)
        read(missing)
    return found


def _insert_new(rows: list[tuple], using: str) -> None:
    """Insert new keys, a concurrent first use of the same subject winning (ON CONFLICT DO
    NOTHING, in SQLite and PostgreSQL alike). One statement run per row, as the event store
    inserts: ``bulk_create`` cost four times as much a key, and a demo batch makes seventy."""
    connection = connections[using]
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {SubjectKey._meta.db_table} (key_id, tenant, subject, wrapped, master_key, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", [(*row, now) for row in rows])


def key_by_id(key_id: str, using: str = "default") -> bytes | None:
    """The key a sealed value names; ``None`` when it was destroyed (or never existed here)."""
    return keys_by_id([key_id], using=using)[key_id]


def keys_by_id(key_ids, using: str = "default") -> dict[str, bytes | None]:
    """``key_by_id`` for many ids, 500 to a query (a page, an index batch)."""
    wanted, found = sorted(set(key_ids)), {}
    for start in range(0, len(wanted), 500):
        rows = SubjectKey.objects.using(using).filter(key_id__in=wanted[start:start + 500], destroyed_at__isnull=True)
        for key_id, tenant, subject, wrapped in rows.values_list("key_id", "tenant", "subject", "wrapped"):
            found[key_id] = UNWRAPPED.get(key_id, wrapped, tenant=tenant, subject=subject)
    for key_id in wanted:
        if key_id not in found:
            UNWRAPPED.forget(key_id)  # destroyed, perhaps by another process: not kept here either
            found[key_id] = None
    return found


class _Unwrapped:
    """Subjects' keys this process unwrapped lately, by key id and wrapped form.

    Consulted only after the key's row was read and found alive, so an erasure takes effect at
    once in every process; what it saves is the master key's unwrap (a KMS ``Decrypt`` per
    subject per batch in AWS). An entry is dropped ``TTL`` seconds after it was unwrapped (swept
    at most a minute later, on the process's next use of keys), or at once when its row is read
    destroyed; at most ``LIMIT`` are kept. Shared by a process's threads, under a lock."""

    TTL, LIMIT, SWEEP = 300.0, 20_000, 60.0

    def __init__(self):
        self._keys: dict[str, tuple[str, bytes, float]] = {}
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def get(self, key_id: str, wrapped: str, *, tenant: str, subject: str) -> bytes:
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            hit = self._keys.get(key_id)
        if hit is not None and hit[0] == wrapped and hit[2] > now:
            return hit[1]
        key = get_master_key().unwrap(base64.b64decode(wrapped), context=_context(tenant, subject))
        self.put(key_id, wrapped, key)
        return key

    def put(self, key_id: str, wrapped: str, key: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._keys) >= self.LIMIT:
                self._sweep(now, force=True)
                if len(self._keys) >= self.LIMIT:
                    self._keys.clear()
            self._keys[key_id] = (wrapped, key, now + self.TTL)

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._keys.pop(key_id, None)

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()

    def _sweep(self, now: float, force: bool = False) -> None:  # under the lock
        if force or now - self._swept >= self.SWEEP:
            self._keys = {k: v for k, v in self._keys.items() if v[2] > now}
            self._swept = now


UNWRAPPED = _Unwrapped()


def destroy_subject_key(*, tenant: str, subject: str) -> SubjectKey | None:
    """Destroy the subject's key for good (its wrapped form emptied); the row stays as the
    record that it existed and when it was destroyed. ``None`` when the subject has no key."""
    with transaction.atomic():
        row = SubjectKey.objects.select_for_update().filter(tenant=tenant, subject=subject).first()
        if row is None or row.destroyed_at is not None:
            return row
        row.wrapped, row.destroyed_at = "", timezone.now()
        row.save(update_fields=["wrapped", "destroyed_at"])
    UNWRAPPED.forget(row.key_id)  # never used again (rows are read first), and not kept either
    return row
