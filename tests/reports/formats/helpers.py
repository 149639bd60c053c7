"""Report metadata and small, really hashed event chains: the writers need no database."""

from datetime import datetime, timezone

import orjson

from audit_events.hashing import GENESIS_HASH, event_hash
from audit_events.jcs import canonicalize
from audit_events.masking import mask_record
from reports.formats import Evidence, ReportMeta

COLUMNS = ["sequence", "event_type", "actor", "amount", "payload"]


def make_meta(**overrides) -> ReportMeta:
    fields = {
        "type_id": "entity_history",
        "title": "Entity history of acme-bank/Account/acc-1",
        "params": {"tenant": "acme-bank", "aggregate_type": "Account", "aggregate_id": "acc-1"},
        "requester": "user:compliance",
        "generated_at": datetime(2026, 11, 26, 9, 30, tzinfo=timezone.utc),
        "scope": "tenants acme-bank; clearance confidential; personal data shown",
        "columns": COLUMNS,
    }
    return ReportMeta(**{**fields, **overrides})


def make_chain(length, *, aggregate_id="acc-1", masked=(), prev_hash=GENESIS_HASH, first=1) -> list[Evidence]:
    """``length`` chained events of one aggregate; sequences in ``masked`` masked as a reader without PII sees them."""
    chain = []
    for sequence in range(first, first + length):
        record = {
            "tenant": "acme-bank",
            "aggregate_type": "Account",
            "aggregate_id": aggregate_id,
            "event_type": "AccountUpdated",
            "sequence": sequence,
            "prev_hash": prev_hash,
            "pii": ["/holder"],
            "payload": {"holder": "Zoë Ünal", "note": f"event {sequence}", "amount": 12.5},
        }
        stored_text = canonicalize(record).decode("utf-8")
        stored_hash = event_hash(prev_hash, stored_text.encode("utf-8"))
        is_masked = sequence in masked
        text = (
            orjson.dumps(mask_record(record), option=orjson.OPT_SORT_KEYS).decode() if is_masked else stored_text
        )
        chain.append(
            Evidence(
                record_text=text,
                hash=stored_hash,
                masked=is_masked,
                tenant="acme-bank",
                aggregate_type="Account",
                aggregate_id=aggregate_id,
                sequence=sequence,
                prev_hash=prev_hash,
                event_id=f"{aggregate_id}-{sequence}",
            )
        )
        prev_hash = stored_hash
    return chain


def row_of(evidence: Evidence) -> dict:
    return {"sequence": evidence.sequence, "event_type": "AccountUpdated", "actor": "u-1", "amount": 12.5}


def write(writer_class, path, rows, *, meta=None, evidence=None, row_count=None):
    """Write ``rows`` (with ``evidence``, one per row or None) to ``path``; the writer."""
    meta = meta or make_meta()
    evidence = evidence or [None] * len(rows)
    with open(path, "wb") as fileobj:
        writer = writer_class(fileobj, meta)
        for row, item in zip(rows, evidence):
            writer.write_row(row, item)
        writer.close(row_count=len(rows) if row_count is None else row_count)
        assert not fileobj.closed  # the caller owns it
        end = fileobj.tell()
    assert end == path.stat().st_size  # left at the end: the caller takes the size from there
    return writer


#: text cells that must not run as formulas, and what they become
INJECTIONS = [
    ("=1+1", "'=1+1"),
    ("+cmd", "'+cmd"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=x", "'\t=x"),
    ("\r=x", "'\r=x"),
    ("\x00x", "'\x00x"),
    ("-12.5", "-12.5"),  # a plain number: left alone
    ("12", "12"),
    ("plain text", "plain text"),
]
