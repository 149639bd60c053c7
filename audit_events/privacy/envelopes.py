"""Sealed personal data: a value at a ``pii`` pointer stored as an envelope under its data
subject's key, so that destroying the key erases the value while the record's hash, computed
over the envelope, stays valid.

An envelope is ``{"sealed": "A256GCMSIV", "kid": key id, "ct": base64(nonce ‖ ciphertext)}``
over the value's canonical JSON (RFC 8785), with the key id as associated data. It opens with
its key alone, wherever it is found: latest states and snapshots merge payloads, and lose which
event a value came from (the record's hash, over the envelope, binds it to its event). The
nonce is derived from the key, the event id and the pointer, so a publisher's retry of the same
event seals to the same bytes (appends stay idempotent); AES-GCM-SIV keeps a value's secrecy
even if one event id and pointer were ever sealed twice with different values.
"""

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

from ..jcs import canonicalize, parse_canonical

__all__ = ["ALGORITHM", "SealError", "is_envelope", "open_value", "seal_value"]

ALGORITHM = "A256GCMSIV"
_NONCE = 12


class SealError(ValueError):
    """An envelope that does not open with the key given: changed, or sealed under another key."""


def is_envelope(value) -> bool:
    return isinstance(value, dict) and value.get("sealed") == ALGORITHM and set(value) == {"sealed", "kid", "ct"}


@lru_cache(maxsize=256)
def _cipher(key: bytes) -> AESGCMSIV:
    # The key schedule once per key, not per value: a batch seals many values under few keys.
    return AESGCMSIV(key)


def seal_value(value, *, key: bytes, key_id: str, event_id: str, pointer: str) -> dict:
    """The envelope of ``value`` at ``pointer`` of event ``event_id`` (deterministic)."""
    nonce = hmac.new(key, f"nonce\0{event_id}\0{pointer}".encode(), hashlib.sha256).digest()[:_NONCE]
    sealed = _cipher(key).encrypt(nonce, canonicalize(value), key_id.encode())
    return {"sealed": ALGORITHM, "kid": key_id, "ct": base64.b64encode(nonce + sealed).decode()}


def open_value(envelope: dict, *, key: bytes):
    """The value sealed in ``envelope``; ``SealError`` when it does not open."""
    try:
        blob = base64.b64decode(envelope["ct"], validate=True)
        plain = _cipher(key).decrypt(blob[:_NONCE], blob[_NONCE:], str(envelope["kid"]).encode())
    except (InvalidTag, ValueError, KeyError, TypeError):
        raise SealError(f"a sealed value does not open with key {envelope.get('kid')!r}") from None
    value, _ = parse_canonical(plain)
    return value
