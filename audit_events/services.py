"""Writes: appending events and issuing publisher keys."""

import re
import time
from typing import Sequence

from django.conf import settings

from .metrics import APPEND_SECONDS, INGESTED, emit_metrics
from .models import PublisherKey
from .schema import RESERVED_TENANT_PREFIX, TENANT_PATTERN, EventIn
from .store import AppendResult, get_event_store

__all__ = ["TenantNotAllowedError", "append_events", "check_tenants_allowed", "check_tenant_names",
    "max_request_bytes", "publisher_key_create"]


class TenantNotAllowedError(Exception):
    """An event for a tenant that the publisher key may not write."""


def check_tenants_allowed(*, key: PublisherKey, events: Sequence[EventIn], single: bool) -> None:
    """Raise ``TenantNotAllowedError`` for the first event outside the key's tenants."""
    allowed = set(key.tenants)
    for index, event in enumerate(events):
        if event.tenant.startswith(RESERVED_TENANT_PREFIX) or event.tenant not in allowed:
            where = "the event" if single else f"events[{index}]"
            raise TenantNotAllowedError(
                f"{where}: publisher key {key.name!r} may not write tenant {event.tenant!r}"
            )


def max_request_bytes() -> int:
    """The largest request body the ingest API reads."""
    return settings.AUDIT_MAX_REQUEST_BYTES


def append_events(*, events: Sequence[EventIn]) -> list[AppendResult]:
    """Append validated events atomically through the configured store (timed for ``/metrics``)."""
    started = time.perf_counter()
    results = get_event_store().append(events)
    elapsed = time.perf_counter() - started
    APPEND_SECONDS.observe(elapsed)
    created = sum(1 for result in results if result.status == "created")
    INGESTED.add("created", created)
    INGESTED.add("duplicate", len(results) - created)
    emit_metrics({"AppendLatency": (elapsed * 1000, "Milliseconds"), "EventsIngested": (created, "Count")})
    return results


def publisher_key_create(*, name: str, tenants: Sequence[str]) -> tuple[PublisherKey, str]:
    """Create a key for ``tenants``; return it and its secret (shown once)."""
    tenants = list(dict.fromkeys(tenants))
    check_tenant_names(tenants)
    key = PublisherKey(name=name, tenants=tenants)
    secret = key.issue_secret()
    key.full_clean()
    key.save()
    return key, secret


def check_tenant_names(tenants: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the first tenant a publisher may not hold."""
    if not tenants:
        raise ValueError("a publisher key needs at least one tenant")
    for tenant in tenants:
        if tenant.startswith(RESERVED_TENANT_PREFIX):
            raise ValueError(f"tenant {tenant!r} is reserved for the portal itself")
        if not re.fullmatch(TENANT_PATTERN, tenant):
            raise ValueError(
                f"tenant {tenant!r} is not a valid tenant name "
                "(lowercase letters, digits, '-' and '_', at most 63 characters)"
            )
