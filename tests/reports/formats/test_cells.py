import pytest

from reports.formats.cells import safe_text

from .helpers import INJECTIONS


@pytest.mark.parametrize("text, expected", INJECTIONS)
def test_text_that_a_spreadsheet_would_run_gets_an_apostrophe(text, expected):
    assert safe_text(text) == expected


@pytest.mark.parametrize("value", [0, -7, 12.5, -12.5, 2**53 - 1])
def test_numbers_stay_numbers(value):
    assert safe_text(value) == value
    assert type(safe_text(value)) is type(value)


def test_other_values_become_text():
    assert safe_text(None) == ""
    assert safe_text(True) == "true"
    assert safe_text(False) == "false"
    assert safe_text({"b": 1, "a": ["ü", None]}) == '{"a":["ü",null],"b":1}'
    assert safe_text([-1]) == "[-1]"


def test_only_ascii_digits_make_a_plain_number():
    assert safe_text("-١٢") == "'-١٢"  # Arabic-Indic digits: not a number to a spreadsheet
    assert safe_text("-1e5") == "'-1e5"
    assert safe_text("-.5") == "'-.5"
