"""Recompute every hash chain from the stored records."""

from dataclasses import dataclass, field
from typing import Iterable


from .hashing import GENESIS_HASH, event_hash
from .jcs import parse_canonical
from .store import EventStore, StoredEvent

__all__ = ["ChainBreak", "ChainWalker", "VerificationReport", "verify_events", "verify_store"]


@dataclass(frozen=True)
class ChainBreak:
    """The first place where one aggregate's chain does not hold."""

    aggregate: tuple[str, str, str]
    sequence: int
    reason: str

    def __str__(self):
        return f"{'/'.join(self.aggregate)}: first bad sequence {self.sequence}: {self.reason}"


@dataclass
class VerificationReport:
    events: int = 0
    aggregates: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)
    #: events read per tenant (a tenant whose events all vanished still appears, with 0)
    tenant_events: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.breaks


class ChainWalker:
    """Walks one aggregate's events in stored order, checking every link.

    Starts at the genesis, or after a known ``(sequence, hash)`` such as a
    snapshot's anchor. ``broken`` holds the first break; ``record`` the last
    event's record as parsed while checking it.
    """

    def __init__(self, aggregate, *, after_sequence: int = 0, prev_hash: str = GENESIS_HASH):
        self.aggregate = aggregate
        self.expected_sequence = after_sequence + 1
        self.prev_hash = prev_hash
        self.broken: ChainBreak | None = None
        self.record: dict | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def check(self, event: StoredEvent) -> None:
        if self.broken is not None:
            return
        reason = self._problem(event)
        if reason:
            self.broken = ChainBreak(self.aggregate, min(event.sequence, self.expected_sequence), reason)
            return
        self.expected_sequence += 1
        self.prev_hash = event.hash

    def _problem(self, event: StoredEvent) -> str | None:
        if event.sequence != self.expected_sequence:
            return (
                f"expected sequence {self.expected_sequence}, found {event.sequence}: "
                "events deleted, inserted or reordered"
            )
        try:
            record, canonical = parse_canonical(event.record_json)
        except ValueError as exc:
            return f"the stored record is not canonicalisable JSON ({exc}) (modified)"
        if not isinstance(record, dict):
            return "the stored record is not a JSON object (modified)"
        self.record = record
        keys = (record.get("tenant"), record.get("aggregate_type"), record.get("aggregate_id"))
        if keys != self.aggregate or record.get("sequence") != event.sequence:
            return "the record's aggregate or sequence differs from where it is stored (moved or reordered)"
        if record.get("prev_hash") != self.prev_hash:
            return "prev_hash does not match the previous event's hash (reordered, inserted or deleted events)"
        # Readers get the stored text itself, so it must be the canonical form:
        # otherwise (say, a duplicated member) two readers could see two events.
        if canonical != event.record_json.encode("utf-8"):
            return "the stored record is not in canonical form (modified)"
        if event_hash(self.prev_hash, canonical) != event.hash:
            return "hash mismatch: the record was modified after it was hashed"
        if event.indexed:
            differing = _indexed_differences(record, event.indexed)
            if differing:
                return (
                    "the store's indexed copies of " + ", ".join(differing)
                    + " differ from the record (modified)"
                )
        return None


def _indexed_differences(record: dict, indexed: dict) -> list[str]:
    expected = {
        "event_id": record.get("event_id"),
        "event_type": record.get("event_type"),
        "occurred_at": record.get("occurred_at"),
        "recorded_at": record.get("recorded_at"),
        "actor_id": (record.get("actor") or {}).get("id"),
        "actor_type": (record.get("actor") or {}).get("type"),
        "classification": record.get("classification"),
        "trace_id": record.get("trace_id"),
    }
    return [name for name, value in indexed.items() if expected.get(name) != value]


def verify_events(
    events: Iterable[StoredEvent], heads: dict[tuple[str, str, str], tuple[int, str]], recheck=None
) -> VerificationReport:
    """Verify events against the recorded heads.

    Each aggregate's events must come in sequence order; aggregates may
    interleave (a store reads fastest in its own order, e.g. by position).
    ``recheck(aggregate)`` re-reads one head: on a live store an append between
    reading the heads and reading the events is not a break when the head now
    recorded matches where the chain ends.
    """
    report = VerificationReport()
    chains: dict[tuple[str, str, str], ChainWalker] = {}
    for event in events:
        aggregate = (event.tenant, event.aggregate_type, event.aggregate_id)
        chain = chains.get(aggregate)
        if chain is None:
            chain = chains[aggregate] = ChainWalker(aggregate)
        report.events += 1
        report.tenant_events[event.tenant] = report.tenant_events.get(event.tenant, 0) + 1
        chain.check(event)

    for aggregate, chain in chains.items():
        if chain.broken is None:
            chain.broken = _head_problem(chain, heads.get(aggregate))
            if chain.broken is not None and recheck is not None:
                chain.broken = _head_problem(chain, recheck(aggregate))
        if chain.broken is not None:
            report.breaks.append(chain.broken)
    report.aggregates = len(chains)
    for aggregate, (sequence, _) in heads.items():
        report.tenant_events.setdefault(aggregate[0], 0)
        if aggregate not in chains:
            report.aggregates += 1
            report.breaks.append(
                ChainBreak(aggregate, 1, f"all {sequence} events of the aggregate are missing")
            )
    report.breaks.sort(key=lambda b: b.aggregate)
    return report


def _head_problem(chain: ChainWalker, head: tuple[int, str] | None) -> ChainBreak | None:
    last = chain.expected_sequence - 1
    if head is None:
        return ChainBreak(
            chain.aggregate,
            last,
            "the aggregate's head is missing (heads are written with every append)",
        )
    if (head[0], head[1]) != (last, chain.prev_hash):
        return ChainBreak(
            chain.aggregate,
            min(last, head[0]) + 1,
            f"the aggregate's head records sequence {head[0]} but the chain ends at "
            f"{last} (events deleted from the end, or the chain was rewritten)",
        )
    return None


def verify_store(
    store: EventStore, *, tenant: str | None = None, aggregate: tuple[str, str] | None = None
) -> VerificationReport:
    """Verify the chains in ``store`` (optionally one tenant or one aggregate)."""
    heads = store.heads(tenant=tenant, aggregate=aggregate)

    def recheck(key):
        return store.heads(tenant=key[0], aggregate=(key[1], key[2])).get(key)

    return verify_events(store.iter_events(tenant=tenant, aggregate=aggregate), heads, recheck)
