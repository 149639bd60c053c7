"""RFC 8785 JSON Canonicalization Scheme (JCS).

``rfc8785`` is the reference encoder. ``canonicalize`` takes a fast path
through the standard library's C encoder whenever its output is provably the
same: the two agree on key order (for BMP-only keys), string escaping and
integers in the safe range, and differ only on floats, integers of 16+
digits and characters at or above U+E000 (UTF-16 key order). The guard below
sends anything that *could* contain one of those to the reference, so the
fast path never changes a byte; ``tests/audit_events/test_jcs.py`` proves it
with generated inputs.
"""

import json
import re

import rfc8785

__all__ = ["canonicalize", "canonicalize_reference", "CanonicalizationError"]

CanonicalizationError = rfc8785.CanonicalizationError

_encode = json.JSONEncoder(
    ensure_ascii=False,
    sort_keys=True,
    separators=(",", ":"),
    allow_nan=False,
    check_circular=False,
).encode

# A number token follows "[", ":" or ","; Python writes every float with "."
# or "e". A string that merely looks like this only costs a slower encode.
_NEEDS_REFERENCE = re.compile(r"[\[:,]-?\d+[.eE]|[\[:,]-?\d{16}|[\ue000-\U0010ffff]")


def canonicalize_reference(value) -> bytes:
    """Encode ``value`` with the reference implementation."""
    return rfc8785.dumps(value)


def canonicalize(value) -> bytes:
    """Encode ``value`` as RFC 8785 canonical JSON (UTF-8 bytes)."""
    try:
        text = _encode(value)
    except (TypeError, ValueError):
        return rfc8785.dumps(value)  # raises the reference's error
    if _NEEDS_REFERENCE.search(text):
        return rfc8785.dumps(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return rfc8785.dumps(value)  # lone surrogates: the reference refuses them
