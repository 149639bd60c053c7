import csv

import pytest

from reports.formats import CsvWriter

from .helpers import INJECTIONS, make_meta, write


def read(path):
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel then reads UTF-8
    with open(path, encoding="utf-8-sig", newline="") as file:
        return list(csv.reader(file))


def test_a_header_then_one_line_per_row(tmp_path):
    path = tmp_path / "report.csv"
    rows = [
        {"sequence": 1, "event_type": "AccountOpened", "actor": "u-1", "amount": 12.5, "payload": {"b": 1, "a": "ü"}},
        {"sequence": 2, "event_type": "AccountClosed", "payload": ["x", None], "unknown": "ignored"},
        {"sequence": 3, "event_type": "Noted", "actor": None, "amount": True, "payload": "two\nlines, \"quoted\""},
    ]
    write(CsvWriter, path, rows)

    assert read(path) == [
        ["sequence", "event_type", "actor", "amount", "payload"],
        ["1", "AccountOpened", "u-1", "12.5", '{"a":"ü","b":1}'],
        ["2", "AccountClosed", "", "", '["x",null]'],
        ["3", "Noted", "", "true", 'two\nlines, "quoted"'],
    ]
    assert path.read_bytes().count(b"\r\n") == 4


def test_formulas_are_neutralised_and_numbers_kept(tmp_path):
    path = tmp_path / "report.csv"
    meta = make_meta(columns=["text", "int", "float"])
    write(CsvWriter, path, [{"text": text, "int": -3, "float": -0.25} for text, _ in INJECTIONS], meta=meta)

    lines = read(path)[1:]
    assert [line[0] for line in lines] == [expected for _, expected in INJECTIONS]
    assert {(line[1], line[2]) for line in lines} == {("-3", "-0.25")}


def test_an_empty_report_is_its_header(tmp_path):
    path = tmp_path / "report.csv"
    write(CsvWriter, path, [])
    assert read(path) == [["sequence", "event_type", "actor", "amount", "payload"]]


@pytest.mark.parametrize("column", ["=evil", "-"])
def test_column_names_are_neutralised_too(tmp_path, column):
    path = tmp_path / "report.csv"
    write(CsvWriter, path, [{column: 1}], meta=make_meta(columns=[column]))
    assert read(path) == [["'" + column], ["1"]]
