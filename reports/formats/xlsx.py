"""XLSX: an "About" sheet with what the report is, then the rows on "Report" (streamed: write-only)."""

import json

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from .base import ReportWriter, utc_iso
from .cells import safe_text

__all__ = ["XlsxWriter"]

#: data rows per sheet: Excel's 1,048,576 rows less the header
SHEET_ROWS = 1_048_575
#: the most characters Excel shows in a cell
CELL_CHARS = 32_767
#: Excel keeps 15 significant digits: larger integers become text so no digit is lost
EXACT_INT = 10**15

_BOLD = Font(bold=True)


class XlsxWriter(ReportWriter):
    extension = "xlsx"
    content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet_rows = SHEET_ROWS

    def __init__(self, fileobj, meta):
        super().__init__(fileobj, meta)
        self._book = Workbook(write_only=True)
        # Write-only sheets take rows in any order until saved: "About" comes
        # first in the workbook but is filled in at close, with the row count.
        self._about = self._book.create_sheet("About")
        self._about.column_dimensions["A"].width = 20
        self._about.column_dimensions["B"].width = 100
        self._sheets = 0
        self._new_sheet()

    def _new_sheet(self):
        self._sheets += 1
        title = "Report" if self._sheets == 1 else f"Report ({self._sheets})"
        self._sheet = self._book.create_sheet(title)
        self._sheet.freeze_panes = "A2"
        for index, name in enumerate(self.meta.columns):
            width = min(max(len(name) + 4, 14), 60)  # the data is not known yet
            self._sheet.column_dimensions[get_column_letter(index + 1)].width = width
        self._sheet.append([self._cell(name, bold=True) for name in self.meta.columns])
        self._sheet_row_count = 0

    def write_row(self, row, evidence=None):
        if self._sheet_row_count == self.sheet_rows:
            self._new_sheet()
        self._sheet.append([self._cell(row.get(name)) for name in self.meta.columns])
        self._sheet_row_count += 1

    def close(self, *, row_count):
        meta = self.meta
        for label, value in [
            ("Report", meta.title),
            ("Type", meta.type_id),
            ("Parameters", json.dumps(meta.params, ensure_ascii=False, sort_keys=True)),
            ("Requested by", meta.requester),
            ("Generated at (UTC)", utc_iso(meta.generated_at)),
            ("Scope of access", meta.scope),
            ("Rows", row_count),
            ("Columns", ", ".join(meta.columns)),
        ]:
            self._about.append([self._cell(label, bold=True), self._cell(value)])
        self._book.save(self.fileobj)  # writes the zip; leaves fileobj open

    def _cell(self, value, *, bold=False):
        """A value openpyxl stores as it is: text always as a string cell, never a formula."""
        if value is None or isinstance(value, (bool, float)):
            return value
        if isinstance(value, int) and abs(value) < EXACT_INT:
            return value
        text = str(value) if isinstance(value, int) else safe_text(value)
        # XML cannot hold most control characters (openpyxl refuses them).
        text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", text)
        if len(text) > CELL_CHARS:
            text = text[: CELL_CHARS - 1] + "…"
        # safe_text leaves no text starting with "=" (a formula to openpyxl);
        # "#N/A" and its kind would still become error values.
        if bold or text in ERROR_CODES:
            cell = WriteOnlyCell(self._about, value=text)  # any sheet: it lends the workbook's styles
            cell.data_type = "s"
            if bold:
                cell.font = _BOLD
            return cell
        return text
