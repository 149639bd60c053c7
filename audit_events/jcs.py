"""RFC 8785 JSON Canonicalization Scheme (JCS).

``rfc8785`` is the reference encoder. ``canonicalize`` takes a fast path
through orjson (sorted keys, compact) whenever its output is provably the
same: the two agree on key order (for keys below U+E000), string escaping and
integers within ±(2^53-1), and differ only on floats, larger integers,
non-string keys and keys with characters at or above U+E000 (UTF-16 order). A walk over the
value sends anything that contains one of those to the reference, so the
fast path never changes a byte; ``tests/audit_events/test_jcs.py`` proves it
with generated inputs.
"""

import json

import orjson
import rfc8785

__all__ = ["CanonicalizationError", "canonicalize", "canonicalize_reference", "parse_canonical"]

CanonicalizationError = rfc8785.CanonicalizationError

_SAFE = 2**53 - 1


def _fast_path_safe(value) -> bool:
    """Whether the standard encoder's output is certainly JCS for ``value``.

    orjson writes floats and integers up to 64 bits its own way; JCS refuses the first and last and formats floats
    differently; keys at or above U+E000 may sort differently in UTF-16.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            try:
                keys = "".join(item)  # one C call checks every key is a string
            except TypeError:
                return False
            if not keys.isascii() and max(keys) >= "\ue000":
                return False
            children = item.values()
        elif type(item) is list:
            children = item
        else:
            children = (item,)
        for child in children:
            kind = type(child)
            if kind is str or kind is bool or child is None:
                continue
            if kind is dict or kind is list:
                stack.append(child)
            elif kind is int:
                if child > _SAFE or child < -_SAFE:
                    return False
            else:
                return False  # floats, subclasses, other types: the reference decides
    return True


def canonicalize_reference(value) -> bytes:
    """Encode ``value`` with the reference implementation."""
    return rfc8785.dumps(value)


def canonicalize(value) -> bytes:
    """Encode ``value`` as RFC 8785 canonical JSON (UTF-8 bytes)."""
    if not _fast_path_safe(value):
        return rfc8785.dumps(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return rfc8785.dumps(value)  # e.g. lone surrogates: the reference refuses them


def parse_canonical(text: str | bytes) -> tuple[object, bytes]:
    """Parse JSON text; return the value and its RFC 8785 canonical form.

    Raises ``ValueError`` for text that is not JSON or has no canonical form.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = json.loads(text)  # integers beyond 64 bits; or the real parse error
    return value, canonicalize(value)
