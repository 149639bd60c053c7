"""The fast canonical encoder is byte-identical to the RFC 8785 reference."""

import json
import math

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_events.jcs import canonicalize, canonicalize_reference

# Keys and strings over all of Unicode, including the ranges that sort
# differently in UTF-16 and the control characters that must be escaped.
text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), max_size=12
) | st.sampled_from(["", "\u2028", "\x7f", "\ud800", "\U0001f600", "\ue000", "a\"b\\c", "1.5", ":1e5"])
numbers = (
    st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1e21, 1e-7, 5e-324, 2**53 - 1, -(2**53) + 1, 2**53, 1.0])
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=25,
)


def _outcome(encode, value):
    try:
        return encode(value)
    except (ValueError, TypeError) as exc:
        return type(exc)


@settings(max_examples=2000, deadline=None)
@given(json_values)
def test_fast_path_is_byte_identical_to_the_reference(value):
    assert _outcome(canonicalize, value) == _outcome(canonicalize_reference, value)


@given(st.dictionaries(st.text(max_size=8), st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8)))
def test_plain_records_round_trip(value):
    assert canonicalize(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    "value, expected",
    [
        # RFC 8785 section 3.2.2.3 / appendix B number examples
        (1e21, b"1e+21"),
        (1e-7, b"1e-7"),
        (0.000001, b"0.000001"),
        (-0.0, b"0"),
        (333333333.3333333, b"333333333.3333333"),
        (1.0, b"1"),
        ({"b": 1, "a": [True, None, "\u20ac"]}, '{"a":[true,null,"\u20ac"],"b":1}'.encode()),
        # UTF-16 ordering: U+E000 sorts after the surrogate pair of U+1F600
        ({"\ue000": 1, "\U0001f600": 2}, '{"\U0001f600":2,"\ue000":1}'.encode()),
        ({"a": "\x1f\n\u2028"}, b'{"a":"\\u001f\\n\xe2\x80\xa8"}'),
    ],
)
def test_known_encodings(value, expected):
    assert canonicalize(value) == expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, 2**53, {"x": "\ud800"}, {1: 2}])
def test_values_outside_jcs_are_refused(bad):
    with pytest.raises((ValueError, TypeError)):
        canonicalize(bad)


@settings(max_examples=1500, deadline=None)
@given(json_values, st.booleans())
def test_parse_canonical_matches_the_reference_for_any_json_text(value, compact):
    from audit_events.jcs import parse_canonical

    try:
        text = json.dumps(value, ensure_ascii=not compact, separators=(",", ":") if compact else None)
    except ValueError:
        return  # NaN and infinities are not JSON text
    try:
        expected = rfc8785.dumps(json.loads(text))
    except ValueError:
        with pytest.raises(ValueError):
            parse_canonical(text)
        return
    parsed, canonical = parse_canonical(text)
    assert canonical == expected
    assert parsed == json.loads(text)
