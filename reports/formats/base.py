"""The report-writer port: what every file format (CSV, XLSX, PDF, evidence bundle) provides."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO

__all__ = ["Evidence", "ReportMeta", "ReportWriter", "utc_iso"]


@dataclass(frozen=True)
class ReportMeta:
    """What a report is, for its cover, "About" sheet or manifest."""

    type_id: str  # e.g. "entity_history"
    title: str  # e.g. "Entity history of acme-bank/Account/acc-1"
    params: dict  # validated parameters, JSON-able
    requester: str  # e.g. "user:compliance"
    generated_at: datetime  # aware UTC
    scope: str  # in words: what the requester may see (tenants, clearance, personal data masked or not)
    columns: list[str]  # column names, in order
    #: bundles: add each tenant's verification package (the signed Merkle log's proofs), which
    #: reads the portal's database; off where a bundle is written from bare rows (tests)
    signed_log: bool = False


@dataclass(frozen=True)
class Evidence:
    """The stored event behind a row, for the evidence bundle."""

    #: unmasked: exactly the stored ``record_json`` (the hashed bytes);
    #: masked: the masked record as compact JSON
    record_text: str
    hash: str  # the event's stored hash
    masked: bool
    tenant: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    prev_hash: str
    event_id: str  # how the bundle lists the event for its signed log, without parsing the record


class ReportWriter(ABC):
    """Writes one report file, row by row, to a binary, writable, seekable file.

    ``close`` finishes the file but leaves ``fileobj`` open, positioned at
    its end: the caller owns it.
    """

    extension: str  # "csv", "xlsx", "pdf", "zip"
    content_type: str
    #: whether ``write_row`` uses ``evidence`` (only the bundle: others are spared building it)
    wants_evidence: bool = False
    #: whether the writer takes ``header=False``, and files so written can be appended, in
    #: order, to one written without rows: several workers then write one report
    concatenable: bool = False

    def __init__(self, fileobj: BinaryIO, meta: ReportMeta):
        self.fileobj = fileobj
        self.meta = meta

    @abstractmethod
    def write_row(self, row: dict, evidence: Evidence | None = None) -> None:
        """Add one row: values by column name (missing ones are empty)."""

    @abstractmethod
    def close(self, *, row_count: int) -> None:
        """Finish the file; ``row_count`` is the number of rows given."""


def utc_iso(moment: datetime) -> str:
    """``2026-11-26T09:30:00Z``: the time of generation as every format prints it."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
