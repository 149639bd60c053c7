"""Folding payloads into state."""

__all__ = ["merge_patch"]


def merge_patch(target, patch):
    """Apply an RFC 7396 JSON Merge Patch; ``null`` members delete keys."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
