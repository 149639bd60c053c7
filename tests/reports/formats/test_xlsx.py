import json

from openpyxl import load_workbook

from reports.formats import XlsxWriter

from .helpers import INJECTIONS, make_meta, write


def test_about_first_then_the_rows(tmp_path):
    path = tmp_path / "report.xlsx"
    rows = [
        {"sequence": 1, "event_type": "AccountOpened", "actor": "u-1", "amount": 12.5, "payload": {"b": 1, "a": "ü"}},
        {"sequence": 2, "event_type": "#N/A", "amount": True, "payload": None},
    ]
    write(XlsxWriter, path, rows)

    book = load_workbook(path)
    assert book.sheetnames == ["About", "Report"]
    sheet = book["Report"]
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [
        ["sequence", "event_type", "actor", "amount", "payload"],
        [1, "AccountOpened", "u-1", 12.5, '{"a":"ü","b":1}'],
        [2, "#N/A", None, True, None],
    ]
    assert all(cell.font.b for cell in sheet[1])
    assert sheet["B3"].data_type == "s"  # text, not Excel's error value
    assert sheet.freeze_panes == "A2"

    about = {label: value for label, value in book["About"].iter_rows(values_only=True)}
    assert about == {
        "Report": "Entity history of acme-bank/Account/acc-1",
        "Type": "entity_history",
        "Parameters": json.dumps(make_meta().params, sort_keys=True),
        "Requested by": "user:compliance",
        "Generated at (UTC)": "2026-11-26T09:30:00Z",
        "Scope of access": "tenants acme-bank; clearance confidential; personal data shown",
        "Rows": 2,
        "Columns": "sequence, event_type, actor, amount, payload",
    }


def test_no_cell_is_a_formula_and_numbers_stay_numbers(tmp_path):
    path = tmp_path / "report.xlsx"
    meta = make_meta(columns=["text", "int", "float", "big"], title="=HYPERLINK(\"http://x\")")
    rows = [{"text": text, "int": -3, "float": -0.25, "big": 2**53 - 1} for text, _ in INJECTIONS]
    write(XlsxWriter, path, rows, meta=meta)

    book = load_workbook(path)
    cells = [cell for sheet in book for row in sheet.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    lines = list(book["Report"].iter_rows(min_row=2))
    texts = [line[0].value for line in lines]
    # XML holds no NUL (it becomes U+FFFD) and reads a carriage return back as a line feed.
    expected = [e.replace("\x00", "\ufffd").replace("\r", "\n") for _, e in INJECTIONS]
    assert texts == expected
    assert all(line[0].data_type == "s" for line in lines)
    assert {(line[1].value, line[2].value) for line in lines} == {(-3, -0.25)}
    assert {line[1].data_type for line in lines} == {"n"}
    # Excel keeps 15 digits: a larger integer is text, so no digit is lost.
    assert {(line[3].value, line[3].data_type) for line in lines} == {(str(2**53 - 1), "s")}
    assert dict(book["About"].iter_rows(values_only=True))["Report"] == "'=HYPERLINK(\"http://x\")"


def test_rows_beyond_a_sheet_continue_on_the_next(tmp_path):
    class SmallSheets(XlsxWriter):
        sheet_rows = 2

    path = tmp_path / "report.xlsx"
    write(SmallSheets, path, [{"sequence": n} for n in range(1, 6)])

    book = load_workbook(path)
    assert book.sheetnames == ["About", "Report", "Report (2)", "Report (3)"]
    sequences = [
        [row[0] for row in book[name].iter_rows(values_only=True)] for name in book.sheetnames[1:]
    ]
    assert sequences == [["sequence", 1, 2], ["sequence", 3, 4], ["sequence", 5]]
    assert dict(book["About"].iter_rows(values_only=True))["Rows"] == 5


def test_overlong_text_is_cut_to_what_excel_shows(tmp_path):
    path = tmp_path / "report.xlsx"
    write(XlsxWriter, path, [{"payload": "x" * 40_000}])
    value = load_workbook(path)["Report"]["E2"].value
    assert len(value) == 32_767 and value.endswith("…")
