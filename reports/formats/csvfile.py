"""CSV: a header row, then one line per row; UTF-8 with a BOM so Excel reads it as UTF-8."""

import csv
import io

from .base import ReportWriter
from .cells import FORMULA_TRIGGERS, safe_text

_TRIGGERS = frozenset(FORMULA_TRIGGERS)

__all__ = ["CsvWriter"]

BOM = "\ufeff".encode("utf-8")


class CsvWriter(ReportWriter):
    extension = "csv"
    content_type = "text/csv; charset=utf-8"

    concatenable = True

    def __init__(self, fileobj, meta, *, header=True):
        super().__init__(fileobj, meta)
        if header:
            fileobj.write(BOM)
        # newline="" hands the csv module's own "\r\n" line ends through untouched.
        self._text = io.TextIOWrapper(fileobj, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text, lineterminator="\r\n")
        if header:
            self._csv.writerow([safe_text(name) for name in meta.columns])

    def write_row(self, row, evidence=None):
        # Most cells are text that starts harmlessly: test that inline, call safe_text for the rest.
        self._csv.writerow([value if value.__class__ is str and value[:1] not in _TRIGGERS else safe_text(value)
                            for value in map(row.get, self.meta.columns)])

    def close(self, *, row_count):
        self._text.flush()
        self._text.detach()  # leaves fileobj open: the caller owns it
