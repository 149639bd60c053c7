"""RFC 8785 JSON Canonicalization Scheme (JCS).

``rfc8785`` is the reference encoder. ``canonicalize`` takes a fast path
through the standard library's C encoder whenever its output is provably the
same: the two agree on key order (for BMP-only keys), string escaping and
integers within ±(2^53-1), and differ only on floats, larger integers,
non-string keys and keys with characters at or above U+E000 (UTF-16 order). A walk over the
value sends anything that contains one of those to the reference, so the
fast path never changes a byte; ``tests/audit_events/test_jcs.py`` proves it
with generated inputs.
"""

import json

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

_SAFE = 2**53 - 1


def _fast_path_safe(value) -> bool:
    """Whether the standard encoder's output is certainly JCS for ``value``.

    The C encoder would write non-string keys as strings and floats and big
    integers its own way; JCS refuses the first and last and formats floats
    differently; keys at or above U+E000 may sort differently in UTF-16.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            children = item.values()
            for key in item:
                if type(key) is not str or (not key.isascii() and max(key) >= "\ue000"):
                    return False
        elif type(item) is list:
            children = item
        else:
            children = (item,)
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append(child)
            elif kind is float:
                return False
            elif kind is int and (child > _SAFE or child < -_SAFE):
                return False
            elif kind not in (str, bool, type(None), int):
                return False  # subclasses and other types: let the reference decide
    return True


def canonicalize_reference(value) -> bytes:
    """Encode ``value`` with the reference implementation."""
    return rfc8785.dumps(value)


def canonicalize(value) -> bytes:
    """Encode ``value`` as RFC 8785 canonical JSON (UTF-8 bytes)."""
    if not _fast_path_safe(value):
        return rfc8785.dumps(value)
    text = _encode(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return rfc8785.dumps(value)  # lone surrogates: the reference refuses them
