import pytest

from reports.formats import FORMATS, BundleWriter, CsvWriter, PdfWriter, XlsxWriter, writer_for


def test_each_format_has_its_writer():
    assert FORMATS == {"csv": CsvWriter, "xlsx": XlsxWriter, "pdf": PdfWriter, "bundle": BundleWriter}
    assert writer_for("bundle") is BundleWriter
    assert [(w.extension, w.content_type) for w in FORMATS.values()] == [
        ("csv", "text/csv; charset=utf-8"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("pdf", "application/pdf"),
        ("zip", "application/zip"),
    ]


@pytest.mark.parametrize("format_id", ["docx", "CSV", "", None, ["csv"]])
def test_an_unknown_format_is_a_value_error_naming_the_choices(format_id):
    with pytest.raises(ValueError) as error:
        writer_for(format_id)
    assert repr(format_id) in str(error.value)
    assert "csv, xlsx, pdf, bundle" in str(error.value)
