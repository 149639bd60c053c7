"""Rules evaluated inside the projections: the ``alerts`` projection and the silence check.

The projection reads each batch once: every enabled rule picks the events it is about and
groups them by its key (an aggregate, an actor, an IP address, a tenant); each key's window
state is loaded once per batch from ``AUDIT_ALERT_STATE``, advanced by event time
(``windows.advance``) and saved. What it finds is raised first and the state saved after, so a
crash in between is redelivered into the same windows and merged, never raised twice.

Findings are saved in the key's state (``pending``) with the state itself, and raised once that
save has won: a lost race raises nothing from stale state, and a failure after the save (the
raise rolled back with its transaction, a timeout) finds them pending at the next load, which
raises every pending finding whose alert is missing or behind. Raising is idempotent.

Silence rules only note each key's newest event time here; ``check_silence`` (run by
``run_projector`` and, on AWS, by the processor stage's schedule) raises when that is too old.
"""

import logging
from collections import defaultdict
from datetime import datetime, timedelta, timezone as dt_timezone
from typing import Sequence

from django.conf import settings
from django.utils import timezone
from pydantic import ValidationError

from ..models import Alert, AlertRule
from ..projections.base import Projection
from ..schema import parse_timestamp
from ..store import StoredEvent
from .rules import MatchRule, SilenceRule, ThresholdRule
from .services import raise_alert
from .state import AlertStateStore, StateConflictError, get_alert_state
from .windows import Fact, advance

__all__ = ["AlertProjection", "check_silence"]

log = logging.getLogger(__name__)

#: the portal's own tenant: its access-audit events name the record they were about
PORTAL_TENANT = "_portal"
#: attempts at saving a key's state against concurrent writers (other processor invocations)
SAVE_ATTEMPTS = 8
#: how long a quiet key is remembered beyond its rule's limit
SILENCE_MEMORY = timedelta(days=30)
#: an event dated further ahead counts at now plus this (a wrong clock must not blind a key)
FUTURE_TOLERANCE = timedelta(minutes=5)
#: a silence key's newest time is saved again only once it moved this far (hot keys)
SILENCE_RESOLUTION_MS = 60_000


class AlertProjection(Projection):
    """Evaluates the enabled rules on the change feed; idempotent by event id per key."""

    name = "alerts"
    #: the stream handler applies it once over a batch, not per aggregate (its keys span them)
    batch_wide = True

    def handle(self, events: Sequence[StoredEvent]) -> None:
        rules = enabled_rules()
        if not rules or not events:
            return
        buckets: dict[tuple[int, str], list[_Event]] = defaultdict(list)
        for stored in events:
            event = _Event(stored)
            for rule, spec in rules.values():
                key = _key_for(rule, spec, event)
                if key is not None:
                    buckets[(rule.pk, key)].append(event)
        state = get_alert_state()
        for (rule_pk, key), items in buckets.items():
            rule, spec = rules[rule_pk]
            if isinstance(spec, SilenceRule):
                _note_activity(state, rule, spec, key, items)
            else:
                _evaluate(state, rule, spec, key, items)

    def reset(self) -> None:
        get_alert_state().clear()  # alerts stay: a replay finds the same windows and merges


def enabled_rules() -> dict[int, tuple[AlertRule, ThresholdRule | MatchRule | SilenceRule]]:
    """The enabled rules with their parsed specs (a stored spec that no longer parses is logged
    and left out, rather than stopping every projection)."""
    rules = {}
    for rule in AlertRule.objects.filter(enabled=True):
        try:
            rules[rule.pk] = (rule, rule.parsed)
        except ValidationError:
            log.error("alert rule %s has a spec that does not validate; it is skipped", rule.name)
    return rules


class _Event:
    """What rules read of one stored event."""

    def __init__(self, stored: StoredEvent):
        record = stored.record
        actor = record.get("actor") or {}
        self.tenant = stored.tenant
        self.occurred_at = parse_timestamp(record["occurred_at"])
        self.event_type = record["event_type"]
        self.actor_id, self.actor_ip = actor.get("id"), actor.get("ip")
        self.classification = record.get("classification", "")
        self.subject_tenant = stored.tenant
        if stored.tenant == PORTAL_TENANT:  # a read: judged by the record it read
            target = (record.get("payload") or {}).get("target") or {}
            if isinstance(target.get("tenant"), str):
                self.subject_tenant = target["tenant"]
                # what was read, when the event says; else unknown (never the read's own class)
                classification = target.get("classification")
                self.classification = classification if isinstance(classification, str) else ""
        counted = min(self.occurred_at, timezone.now() + FUTURE_TOLERANCE)
        self.fact = Fact(_ms(counted), record["event_id"], stored.tenant,
                         stored.aggregate_type, stored.aggregate_id, stored.sequence, self.event_type)


def _key_for(rule: AlertRule, spec, event: _Event) -> str | None:
    """The key ``event`` counts under for ``rule``, or None when the rule is not about it."""
    if rule.tenant and rule.tenant not in (event.tenant, event.subject_tenant):
        return None
    if isinstance(spec, SilenceRule):
        if event.tenant.startswith("_") and rule.tenant != event.tenant:
            return None  # the portal's own events say nothing about a publisher
        return f"tenant:{event.tenant}" if spec.group_by == "tenant" else f"actor:{event.tenant}/{event.actor_id}"
    if isinstance(spec, MatchRule):
        if not spec.matches(event.event_type, event.classification, event.occurred_at):
            return None
    elif not spec.matches_type(event.event_type):
        return None
    if spec.group_by == "aggregate":
        return f"aggregate:{event.tenant}/{event.fact.aggregate_type}/{event.fact.aggregate_id}"
    value = event.actor_id if spec.group_by == "actor" else event.actor_ip
    return f"{spec.group_by}:{event.tenant}/{value}" if value else None


def _evaluate(state: AlertStateStore, rule: AlertRule, spec, key: str, items: list[_Event]) -> None:
    sliding = isinstance(spec, ThresholdRule)
    count = spec.count if sliding else 1
    window_ms, lateness_ms = spec.window_seconds * 1000, settings.AUDIT_ALERT_LATENESS_SECONDS * 1000
    facts = [item.fact for item in items]
    for _ in range(SAVE_ATTEMPTS):
        current, version = state.load(rule.pk, key)
        known = _alerts_of(rule, key, current)
        closed = {start: resolved for start, (_, _, resolved) in known.items() if resolved is not None}
        updated, findings = advance(current, facts, mode="sliding" if sliding else "fixed", count=count,
                                    window_ms=window_ms, lateness_ms=lateness_ms,
                                    cap=max(2 * count, 50), closed=closed)
        pending = {p["start"]: p for p in current.get("pending", []) if not _raised(p, known)}
        for finding in findings:
            pending[finding.start_ms] = _pending(finding, pending.get(finding.start_ms), items[0].tenant)
        updated["pending"] = list(pending.values())
        expires = timezone.now() + timedelta(milliseconds=window_ms + lateness_ms)
        try:
            state.save(rule.pk, key, updated, version=version, expires_at=expires)
            break
        except StateConflictError:
            continue  # another invocation moved this key: fold the batch into its state again
    else:
        raise StateConflictError(f"rule {rule.name} key {key!r}: still contended after {SAVE_ATTEMPTS} attempts")
    for finding in updated["pending"]:
        evidence = finding["evidence"]
        raise_alert(rule=rule, tenant=finding["tenant"], group_key=key, window_start=_moment(finding["start"]),
                    window_end=_moment(finding["end"]), event_count=finding["count"],
                    evidence=[_evidence(entry) for entry in evidence], summary=_summary(spec, finding["count"], evidence))


def _pending(finding, before: dict | None, tenant: str) -> dict:
    """A finding as the state keeps it until its alert is seen raised (evidence: the first kept)."""
    evidence = {entry[1]: entry for entry in (before or {}).get("evidence", [])}
    evidence.update({entry[1]: entry for entry in finding.evidence})
    kept = sorted(evidence.values(), key=lambda e: (e[0], e[1]))[:Alert.EVIDENCE_LIMIT]
    return {"start": finding.start_ms, "end": finding.end_ms, "count": finding.count, "tenant": tenant,
            "evidence": kept}


def _raised(pending: dict, known: dict) -> bool:
    alert = known.get(pending["start"])
    return alert is not None and alert[0] >= pending["count"] and alert[1] >= pending["end"]


def _alerts_of(rule: AlertRule, key: str, current: dict) -> dict[int, tuple[int, int, int | None]]:
    """The key's alerts for its episodes and pending findings: start (ms) -> (event count,
    end (ms), resolved at (ms) or None)."""
    starts = {episode[0] for episode in current.get("episodes", [])} | {p["start"] for p in current.get("pending", [])}
    if not starts:
        return {}
    rows = Alert.objects.filter(rule=rule, group_key=key, window_start__in=[_moment(ms) for ms in starts])
    return {_ms(start): (count, _ms(end), _ms(resolved) if status == "resolved" and resolved else None)
            for start, count, end, status, resolved in rows.values_list(
                "window_start", "event_count", "window_end", "status", "resolved_at")}


def _note_activity(state: AlertStateStore, rule: AlertRule, spec: SilenceRule, key: str,
                   items: list[_Event]) -> None:
    newest = max(items, key=lambda item: item.fact.occurred_ms)
    for _ in range(SAVE_ATTEMPTS):
        current, version = state.load(rule.pk, key)
        if current and current["newest"] + SILENCE_RESOLUTION_MS > newest.fact.occurred_ms:
            return  # not a minute newer: a busy tenant's key is not rewritten for every batch
        updated = {**current, "newest": newest.fact.occurred_ms, "tenant": newest.tenant,
                   "last": _evidence(newest.fact.entry())}
        try:
            state.save(rule.pk, key, updated, version=version, expires_at=_silence_expiry(spec))
            return
        except StateConflictError:
            continue


def check_silence(*, now: datetime | None = None) -> int:
    """Raise an alert for each key of a silence rule whose newest event is older than the
    rule allows (once per quiet spell); return how many were raised."""
    now = now or timezone.now()
    state = get_alert_state()
    raised = 0
    for rule, spec in enabled_rules().values():
        if not isinstance(spec, SilenceRule):
            continue
        for key, current, version in list(state.keys(rule.pk)):
            newest = current.get("newest")
            if newest is None or _ms(now) - newest <= spec.quiet_seconds * 1000 or current.get("alerted") == newest:
                continue
            quiet = timedelta(milliseconds=_ms(now) - newest)
            _, created = raise_alert(
                rule=rule, tenant=current["tenant"], group_key=key, window_start=_moment(newest), window_end=now,
                event_count=0, evidence=[current["last"]],
                summary=f"no events for {_duration(quiet)} (the limit is {_duration(timedelta(seconds=spec.quiet_seconds))})")
            raised += created
            try:
                state.save(rule.pk, key, {**current, "alerted": newest}, version=version,
                           expires_at=_silence_expiry(spec, now))
            except StateConflictError:
                pass  # events came in meanwhile: the next check judges the new newest
    state.prune(now)
    return raised


def _silence_expiry(spec: SilenceRule, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=spec.quiet_seconds) + SILENCE_MEMORY


def _evidence(entry: list) -> dict:
    occurred, event_id, tenant, aggregate_type, aggregate_id, sequence, event_type = entry[:7]
    return {"event_id": event_id, "tenant": tenant, "aggregate_type": aggregate_type, "aggregate_id": aggregate_id,
            "sequence": sequence, "event_type": event_type, "occurred_at": _moment(occurred).isoformat()}


def _summary(spec, count: int, evidence: list[list]) -> str:
    types = "/".join(sorted({entry[6] for entry in evidence}))
    if isinstance(spec, ThresholdRule):
        return (f"{count} {types} within {_duration(timedelta(seconds=spec.window_seconds))} "
                f"(the rule allows fewer than {spec.count})")
    what = f"{count} × {types}"
    if spec.min_classification:
        what += f" ({spec.min_classification} or above)"
    if spec.outside_hours:
        hours = spec.outside_hours
        what += f" outside business hours ({hours.start:%H:%M}–{hours.end:%H:%M} {hours.timezone})"
    return what


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{value} {unit}" for value, unit in ((days, "d"), (hours, "h"), (minutes, "min"), (seconds, "s")) if value]
    return " ".join(parts[:2]) or "0 s"


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=dt_timezone.utc)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
