"""The hash chain: ``hash = sha256(bytes.fromhex(prev_hash) + JCS(record))``.

``record`` is the stored event exactly as the read API returns it, without
its ``hash`` field. See ``docs/EVENT_FORMAT.md``.
"""

import hashlib

from .jcs import canonicalize

__all__ = ["GENESIS_HASH", "event_hash", "record_hash"]

GENESIS_HASH = "0" * 64


def event_hash(prev_hash: str, canonical_record: bytes) -> str:
    """Chain ``canonical_record`` (JCS bytes) onto ``prev_hash``."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_record).hexdigest()


def record_hash(record: dict) -> str:
    """Recompute the hash of a stored record (with or without its ``hash``)."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return event_hash(record["prev_hash"], canonicalize(body))
