"""Template tags of the audit views: times, JSON trees with masked values, charts."""

import json
from datetime import timezone

from django import template
from django.utils.html import format_html, format_html_join

from audit_events.masking import MASK
from audit_events.privacy.sealing import ERASED
from audit_events.schema import parse_timestamp
from django.utils.safestring import mark_safe

register = template.Library()

BADGES = (MASK, ERASED)


@register.filter
def when(value):
    """A ``<time>`` in UTC; portal.js shows it in the reader's time zone, with UTC on hover."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = parse_timestamp(value)
        except ValueError:
            return value
    value = value.astimezone(timezone.utc)
    utc = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    return format_html('<time datetime="{}" title="{}" class="portal-time">{}</time>',
                       value.isoformat().replace("+00:00", "Z"), utc, utc)


def _escape_token(key) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _leaf(value):
    if value == MASK:
        return format_html('<span class="portal-masked" title="{}">masked</span>',
                           "Personal data: your access does not include it")
    if value == ERASED:
        return format_html('<span class="portal-masked portal-erased" title="{}">erased</span>',
                           "Personal data erased: the data subject's key was destroyed")
    if isinstance(value, str):
        return format_html('<span class="portal-string">{}</span>', json.dumps(value, ensure_ascii=False))
    return format_html('<span class="portal-scalar">{}</span>', json.dumps(value))


def _tree(value, pointer: str, personal: set[str]):
    if value in BADGES or not isinstance(value, (dict, list)) or not value:
        if isinstance(value, (dict, list)) and value not in BADGES:
            return format_html('<span class="portal-scalar">{}</span>', "{}" if isinstance(value, dict) else "[]")
        return _leaf(value)
    items = value.items() if isinstance(value, dict) else enumerate(value)
    rows = []
    for key, child in items:
        child_pointer = f"{pointer}/{_escape_token(key)}"
        mark = format_html(' <span class="portal-pii" title="{}">personal data</span>',
                           "Marked as personal data by the publisher") if child_pointer in personal else ""
        rows.append((key, mark, _tree(child, child_pointer, personal)))
    body = format_html_join("", '<li><span class="portal-key">{}</span>{}: {}</li>', rows)
    return format_html('<ul class="portal-tree">{}</ul>', body)


@register.simple_tag
def json_tree(value, personal=()):
    """A nested list of the value; masked and erased values say so, personal-data fields are labelled."""
    return _tree(value, "", set(personal or ()))


@register.filter
def json_value(value):
    """One value, compact (a masked or erased one as a badge)."""
    if isinstance(value, (dict, list)) and value not in BADGES:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        return format_html('<code>{}</code>', text if len(text) <= 300 else text[:300] + "…")
    return _leaf(value)


@register.inclusion_tag("admin/portal/bar_chart.html")
def bar_chart(buckets, label, interval=None):
    """An SVG bar chart of ``[{"start", "count"}]``: no script, no CDN."""
    buckets = list(buckets or [])
    peak = max((b["count"] for b in buckets), default=0) or 1
    width = max(len(buckets), 1)
    bars = [
        {"x": index, "height": round(90 * b["count"] / peak, 2), "y": round(100 - 90 * b["count"] / peak, 2),
         "start": b["start"], "count": b["count"]}
        for index, b in enumerate(buckets)
    ]
    return {"bars": bars, "width": width, "label": label, "interval": interval, "peak": peak}


@register.filter
def intcomma_plain(value):
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


@register.simple_tag
def none_marker():
    return mark_safe('<span class="quiet">–</span>')
