import re

from pypdf import PdfReader

from reports.formats import PDF_ROW_LIMIT, PdfWriter

from .helpers import make_meta, write


def pages_text(path) -> list[str]:
    """Each page's text, with runs of white space made one space."""
    return [re.sub(r"\s+", " ", page.extract_text()) for page in PdfReader(path).pages]


def test_a_cover_page_then_the_table(tmp_path):
    path = tmp_path / "report.pdf"
    rows = [
        {"sequence": n, "event_type": "AccountUpdated", "actor": "=cmd", "amount": 12.5, "payload": {"holder": "Zoë"}}
        for n in range(1, 4)
    ]
    write(PdfWriter, path, rows)

    cover, table = pages_text(path)
    for text in [
        "Entity history of acme-bank/Account/acc-1",
        "Report type entity_history",
        "aggregate_id: acc-1",
        "aggregate_type: Account",
        "tenant: acme-bank",
        "Requested by user:compliance",
        "Generated at 2026-11-26 09:30:00 UTC",
        "Scope of access tenants acme-bank; clearance confidential; personal data shown",
        "Rows 3",
    ]:
        assert text in cover
    assert "PDF shows" not in cover
    assert "cannot show" not in cover  # every character printed as it is
    assert "sequence event_type actor amount payload" in table
    assert "2 AccountUpdated '=cmd 12.5 {\"holder\":\"Zoë\"}" in table
    assert "page 2 of 2" in table


def test_more_rows_than_the_limit_says_so_on_the_cover(tmp_path):
    path = tmp_path / "report.pdf"
    count = PDF_ROW_LIMIT + 1
    write(PdfWriter, path, [{"sequence": n, "event_type": "AccountUpdated"} for n in range(1, count + 1)])

    pages = pages_text(path)
    assert "Rows 5,001" in pages[0]
    assert "PDF shows the first 5,000 of 5,001 rows; CSV, XLSX and the evidence bundle hold them all" in pages[0]
    assert " 5000 AccountUpdated" in pages[-1]
    assert "5001" not in " ".join(pages[1:])
    # The header is repeated on every page of the table.
    assert all(page.startswith("sequence event_type actor amount payload") for page in pages[1:])


def test_long_cells_are_cut_and_characters_without_a_glyph_replaced(tmp_path):
    path = tmp_path / "report.pdf"
    meta = make_meta(title="Verlauf Grüße Ωμ 中文", columns=["sequence", "note"])
    write(PdfWriter, path, [{"sequence": 1, "note": "word " * 200}, {"sequence": 2, "note": "emoji 😀"}], meta=meta)

    cover, table = pages_text(path)
    assert "Verlauf Grüße ?? ??" in cover
    assert '5 characters outside Latin-1 are printed as "?"' in cover
    assert "word word" in table and "..." in table
    assert len(re.findall("word", table)) < 200
    assert "emoji ?" in table


def test_an_empty_report_has_its_cover_and_an_empty_table(tmp_path):
    path = tmp_path / "report.pdf"
    write(PdfWriter, path, [])
    cover, table = pages_text(path)
    assert "Rows 0" in cover
    assert "No rows." in table
