"""Tag tokens: a search document's exact-match fields as words in SQLite's full-text index.

FTS5 then intersects a query's words with its tenant, type and day tokens itself, and
hands back candidates newest first, so a word common elsewhere but rare in the reader's
tenants, or a week long ago, costs what it matches, not a walk through the store. The
rows are still checked against every filter: the tokens only narrow the candidates.
The trigger's SQL (``sql_tags``) and the query's tokens (``*_token``) must agree.
"""

from datetime import datetime, timedelta, timezone

__all__ = ["MAX_DAYS", "day_tokens", "sql_tags", "value_token"]

#: prefixes of the tokens, by document field
PREFIXES = {"tenant": "t", "event_type": "e", "aggregate_type": "a", "classification": "c"}
DAY_PREFIXES = {"occurred_at": "d", "recorded_at": "r"}
#: a window of more days is filtered row by row: OR-ing that many day lists costs more than it saves
MAX_DAYS = 14


def sql_tags(row: str) -> str:
    """The SQL expression of ``row``'s tags (``new``, ``old`` or a table name)."""
    parts = [f"'{prefix}' || lower(hex({row}.{field}))" for field, prefix in PREFIXES.items()]
    # Django keeps SQLite datetimes as UTC text 'YYYY-MM-DD HH:MM:SS…'.
    parts += [f"'{prefix}' || substr({row}.{field}, 1, 4) || substr({row}.{field}, 6, 2) || substr({row}.{field}, 9, 2)"
              for field, prefix in DAY_PREFIXES.items()]
    return " || ' ' || ".join(parts)


def value_token(field: str, value: str) -> str:
    return PREFIXES[field] + value.encode().hex()


def day_tokens(field: str, start: datetime, end: datetime) -> list[str] | None:
    """Tokens of the UTC days ``[start, end)`` touches, or None when there are more than MAX_DAYS."""
    first = start.astimezone(timezone.utc).date()
    last = (end.astimezone(timezone.utc) - timedelta(microseconds=1)).date()
    if last < first:
        return []
    if (last - first).days + 1 > MAX_DAYS:
        return None
    return [DAY_PREFIXES[field] + (first + timedelta(days=n)).strftime("%Y%m%d")
            for n in range((last - first).days + 1)]
