"""What the browser tests share: reading the portal's pages, finding demo records.

The demo data is generated (same seed, times relative to now), so tests find
their records through the portal itself rather than by hard-coded ids.
"""

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

BANK, HOSPITAL, SHOP = "acme-bank", "st-marys-hospital", "northwind-shop"
#: a bank account with personal data and several events (opened, then updated)
BANK_ACCOUNT = (BANK, "Account", "acc-000001")

EVENT_URL = re.compile(r"/admin/audit/events/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
#: a time as portal.js shows it in America/New_York: "2026-11-25 16:41:45 EST"
NEW_YORK_TEXT = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (EST|EDT|GMT-5|GMT-4)$")

_ROWS = """rows => rows.map(row => {
    const cells = {};
    row.querySelectorAll('td[data-label]').forEach(td => { cells[td.dataset.label] = td.innerText.trim(); });
    const link = row.querySelector('td[data-label="Event"] a');
    cells.url = link ? link.getAttribute('href') : null;
    return cells;
}).filter(cells => cells.url)"""


def timeline_path(tenant: str, aggregate_type: str, aggregate_id: str) -> str:
    return f"/admin/audit/timeline/{tenant}/{aggregate_type}/{aggregate_id}/"


def state_api_path(tenant: str, aggregate_type: str, aggregate_id: str) -> str:
    return f"/api/v1/aggregates/{tenant}/{aggregate_type}/{aggregate_id}/state"


def result_rows(page: Page) -> list[dict]:
    """The rows of ``#result_list``: {"Occurred", "Event", "Tenant", "Aggregate", "Actor",
    "Classification", "url"}; the "nothing found" row is left out."""
    expect(page.locator("#result_list")).to_be_visible()
    return page.locator("#result_list tbody tr").evaluate_all(_ROWS)


def query_params(url: str) -> dict[str, str]:
    return {name: values[-1] for name, values in parse_qs(urlsplit(url).query).items()}


def meta_value(page: Page, term: str):
    """The ``<dd>`` after ``<dt>term</dt>`` in the page's ``dl.portal-meta`` lists."""
    return page.locator(f'dl.portal-meta dt:text-is("{term}") + dd')


def entry_link(page: Page, sequence: int) -> str:
    """On a timeline page: the event page URL of entry #sequence."""
    return page.locator(f"li#seq-{sequence} .portal-entry-head a").first.get_attribute("href")


def signed_in_page(new_context, sign_in, username: str, **context_args) -> Page:
    """A page in a browser context of its own (its own cookies), signed in as ``username``."""
    page = new_context(**context_args).new_page()
    sign_in(page, username)
    return page


def personal_values(record: dict) -> list[str]:
    """The values at the record's personal-data pointers (``pii``), as text."""
    values = []
    for pointer in record.get("pii") or []:
        node = record.get("payload")
        for token in pointer.lstrip("/").split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                node = None
                break
        if isinstance(node, (str, int, float)) and not isinstance(node, bool):
            values.append(str(node))
    return values


def telling(values) -> list[str]:
    """Values distinctive enough to search a page's HTML for: at least 5 characters and
    not only digits (a bare postal code could turn up inside a hash or an id)."""
    return sorted({v for v in values if len(v) >= 5 and not v.isdigit()})
