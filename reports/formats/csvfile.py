"""CSV: a header row, then one line per row; UTF-8 with a BOM so Excel reads it as UTF-8."""

import csv
import io

from .base import ReportWriter
from .cells import safe_text

__all__ = ["CsvWriter"]

BOM = "\ufeff".encode("utf-8")


class CsvWriter(ReportWriter):
    extension = "csv"
    content_type = "text/csv; charset=utf-8"

    def __init__(self, fileobj, meta):
        super().__init__(fileobj, meta)
        fileobj.write(BOM)
        # newline="" hands the csv module's own "\r\n" line ends through untouched.
        self._text = io.TextIOWrapper(fileobj, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text, lineterminator="\r\n")
        self._csv.writerow([safe_text(name) for name in meta.columns])

    def write_row(self, row, evidence=None):
        self._csv.writerow([safe_text(row.get(name)) for name in self.meta.columns])

    def close(self, *, row_count):
        self._text.flush()
        self._text.detach()  # leaves fileobj open: the caller owns it
