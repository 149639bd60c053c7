"""PDF: a cover page saying what the report is, then the rows as a table.

A PDF is for reading: it holds at most ``PDF_ROW_LIMIT`` rows, and its cover
says so when there were more. The rows are kept until ``close`` (at most
that many) because the cover, printed first, gives the row count.

The text is set in the PDF standard font Helvetica, which every reader has
and nothing needs to embed (no system font, so it works on AWS Lambda as
anywhere). It covers Latin-1; other characters print as "?" and the cover's
footnote says how many: CSV, XLSX and the evidence bundle keep them exactly.
A Unicode font would need a font package of its own as a dependency; none
well kept enough was found for a compliance product.
"""

import json
from functools import cache

from fpdf import FPDF, XPos, YPos

from .base import ReportWriter
from .cells import safe_text

__all__ = ["PDF_ROW_LIMIT", "PdfWriter"]

PDF_ROW_LIMIT = 5000
FONT_FAMILY = "helvetica"
ELLIPSIS = "..."  # "…" is not in Latin-1

#: table text size (points), row height (mm), and the longest cell text measured
FONT_SIZE = 7
ROW_HEIGHT = 4.2
MEASURED_CHARS = 300
#: column widths follow each column's typical text length, within these bounds (characters)
NARROWEST, WIDEST = 4, 40


@cache
def _font() -> tuple[str, frozenset[int]]:
    """The font and the code points it can draw (Latin-1)."""
    return FONT_FAMILY, frozenset(range(32, 256)) - frozenset(range(127, 160))


class _Document(FPDF):
    """Landscape A4 with a footer, and the table's header on every table page."""

    def __init__(self, footer_text: str):
        super().__init__(orientation="landscape", format="A4")
        self.footer_text = footer_text
        self.table_header = None  # set once the cover is done
        self.set_auto_page_break(auto=True, margin=14)
        self.set_font(_font()[0], size=FONT_SIZE)

    def header(self):
        if self.table_header:
            self.table_header()

    def footer(self):
        self.set_y(-10)
        self.set_font(size=7)
        self.set_text_color(110)
        title = _fit(self, self.footer_text, self.epw - 40)
        self.cell(0, 4, f"{title} - page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(0)


class PdfWriter(ReportWriter):
    extension = "pdf"
    content_type = "application/pdf"
    row_limit = PDF_ROW_LIMIT

    def __init__(self, fileobj, meta):
        super().__init__(fileobj, meta)
        self._glyphs = _font()[1]
        self._replaced = 0  # characters printed as "?"
        self._rows: list[list[str]] = []

    def write_row(self, row, evidence=None):
        if len(self._rows) < self.row_limit:
            # Kept until the cover is printed: cut now (no cell shows more), so 5,000 rows of
            # 64 KB payloads do not become hundreds of megabytes.
            self._rows.append([self._printable(str(safe_text(row.get(name)))[: MEASURED_CHARS * 4])
                               for name in self.meta.columns])

    def close(self, *, row_count):
        meta = self.meta
        # Every text is made printable before the cover's footnote counts what was replaced.
        title = self._printable(meta.title)
        cover = self._cover_lines(row_count)
        columns = [self._printable(name) for name in meta.columns]

        pdf = _Document(footer_text=title)
        pdf.set_title(meta.title)
        pdf.set_creator("Compliance portal")
        pdf.set_creation_date(meta.generated_at)
        self._draw_cover(pdf, title, cover, row_count)
        self._draw_table(pdf, columns)
        self.fileobj.write(pdf.output())

    def _printable(self, value) -> str:
        """``value`` as text the font can draw: other characters become "?", line breaks spaces."""
        text = str(value)
        if text.isascii() and text.isprintable():
            return text
        out = []
        for char in text:
            if char in "\t\n\r":
                out.append(" ")
            elif char.isprintable() and ord(char) in self._glyphs:
                out.append(char)
            else:
                out.append("?")
                self._replaced += 1
        return "".join(out)

    def _cover_lines(self, row_count: int) -> list[tuple[str, str]]:
        meta = self.meta
        params = [
            f"{name}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
            for name, value in sorted(meta.params.items())
        ]
        lines = [
            ("Report type", meta.type_id),
            ("Parameters", "\n".join(params) or "none"),
            ("Requested by", meta.requester),
            ("Generated at", meta.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
            ("Scope of access", meta.scope),
            ("Rows", f"{row_count:,}"),
        ]
        # "\n" separates the parameters: keep it through _printable.
        return [(label, "\n".join(map(self._printable, text.split("\n")))) for label, text in lines]

    def _draw_cover(self, pdf: _Document, title: str, lines, row_count: int) -> None:
        pdf.add_page()
        pdf.set_font(size=18)
        pdf.multi_cell(0, 9, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(4)
        pdf.set_font(size=10)
        for label, text in lines:
            pdf.set_text_color(90)
            pdf.cell(40, 6, label)
            pdf.set_text_color(0)
            pdf.multi_cell(0, 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if row_count > len(self._rows):
            pdf.ln(3)
            pdf.multi_cell(
                0, 6,
                f"PDF shows the first {len(self._rows):,} of {row_count:,} rows; "
                "CSV, XLSX and the evidence bundle hold them all.",
                new_x=XPos.LMARGIN, new_y=YPos.NEXT,
            )
        notes = ['Cells too long for their column end in "...".']
        if self._replaced:
            notes.append(
                f'{self._replaced:,} characters outside Latin-1 are printed as "?" (CSV, XLSX and the bundle keep them).'
            )
        notes.append("The CSV, XLSX and evidence bundle formats hold the exact text.")
        pdf.ln(6)
        pdf.set_y(max(pdf.get_y(), pdf.h - 30))  # at the foot of the page unless the cover is full
        pdf.set_font(size=8)
        pdf.set_text_color(90)
        pdf.multi_cell(0, 4, " ".join(notes), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0)

    def _draw_table(self, pdf: _Document, columns: list[str]) -> None:
        widths = self._widths(pdf.epw, columns)

        def header():
            pdf.set_font(size=FONT_SIZE)
            pdf.set_fill_color(60)
            pdf.set_text_color(255)
            for name, width in zip(columns, widths):
                pdf.cell(width, ROW_HEIGHT + 1, _fit(pdf, name, width), fill=True)
            pdf.ln()
            pdf.set_text_color(0)

        pdf.table_header = header
        # fpdf2 restores the colours after drawing a header: the rows' shade is set outside it.
        pdf.set_fill_color(242)
        pdf.add_page()  # draws the header, as every later page does
        for number, row in enumerate(self._rows):
            for text, width in zip(row, widths):
                # A page break inside a row can only happen at its first cell: all share one height.
                pdf.cell(width, ROW_HEIGHT, _fit(pdf, text, width), fill=number % 2 == 1)
            pdf.ln()
        if not self._rows:
            pdf.cell(0, ROW_HEIGHT, "No rows.")

    def _widths(self, usable: float, columns: list[str]) -> list[float]:
        """Column widths in proportion to each column's median text length, within bounds."""
        typical = []
        for index, name in enumerate(columns):
            lengths = sorted(len(row[index]) for row in self._rows) or [0]
            median = lengths[len(lengths) // 2]
            typical.append(min(max(len(name), median, NARROWEST), WIDEST))
        total = sum(typical) or 1
        return [usable * length / total for length in typical]


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """``text`` cut to fit ``width`` (less the cell's padding), ending in "..." when cut."""
    room = width - 2 * pdf.c_margin
    cut = len(text) > MEASURED_CHARS
    text = text[:MEASURED_CHARS]  # measuring 64 KiB of JSON per cell would be slow
    if not cut and pdf.get_string_width(text) <= room:
        return text
    low, high = 0, len(text)  # the longest prefix that fits with its ellipsis
    while low < high:
        middle = (low + high + 1) // 2
        if pdf.get_string_width(text[:middle] + ELLIPSIS) <= room:
            low = middle
        else:
            high = middle - 1
    return text[:low] + ELLIPSIS
