"""Report file formats: one writer per format, all with the ``ReportWriter`` interface."""

from .base import Evidence, ReportMeta, ReportWriter
from .bundle import BundleWriter
from .csvfile import CsvWriter
from .pdf import PDF_ROW_LIMIT, PdfWriter
from .xlsx import XlsxWriter

__all__ = [
    "FORMATS",
    "PDF_ROW_LIMIT",
    "BundleWriter",
    "CsvWriter",
    "Evidence",
    "PdfWriter",
    "ReportMeta",
    "ReportWriter",
    "XlsxWriter",
    "writer_for",
]

#: format id (as requested) -> writer class
FORMATS: dict[str, type[ReportWriter]] = {
    "csv": CsvWriter,
    "xlsx": XlsxWriter,
    "pdf": PdfWriter,
    "bundle": BundleWriter,
}


def writer_for(format_id: str) -> type[ReportWriter]:
    """The writer class of ``format_id``; ``ValueError`` naming the choices for any other."""
    if isinstance(format_id, str) and format_id in FORMATS:
        return FORMATS[format_id]
    raise ValueError(f"Unknown report format {format_id!r}: choose one of {', '.join(FORMATS)}.")
