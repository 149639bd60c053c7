"""Sealing a record, for any payload and any pointers into it (ingest refuses others): the publisher's payload is left as it
came, every value at a pointer is sealed (once, even under a sealed parent), and opening gives
the payload back."""

import copy

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from audit_events.privacy.envelopes import is_envelope
from audit_events.privacy.sealing import KeyCache, open_sealed, seal_content
from audit_events.schema import resolve_pointer

pytestmark = pytest.mark.django_db

keys_ = st.sampled_from(["a", "b", "name", "x/y", "t~1"])
leaves = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=12)
payloads = st.dictionaries(keys_, st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys_, inner, max_size=3), max_leaves=10),
    max_size=4)


def paths(value, prefix=""):
    """Every JSON pointer into ``value``."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        pointer = f"{prefix}/{str(key).replace('~', '~0').replace('/', '~1')}"
        yield pointer
        yield from paths(child, pointer)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), payload=payloads)
def test_sealing_leaves_the_payload_as_it_came_and_opens_to_it(data, payload):
    everywhere = sorted(set(paths(payload)))
    pointers = data.draw(st.lists(st.sampled_from(everywhere), unique=True, max_size=4)) if everywhere else []
    as_sent = copy.deepcopy(payload)
    content = {"event_id": "6f1c8a52-3a0e-4b7e-9d55-0c1f2b3a4d5e", "tenant": "acme", "aggregate_type": "Account",
               "aggregate_id": "acc-1", "pii": pointers, "payload": payload}
    keys = KeyCache()
    sealed = seal_content(content, keys)["payload"]
    assert payload == as_sent  # the caller's payload, and everything in it, unchanged
    for pointer in pointers:  # sealed, or inside a value sealed whole
        ancestors = [pointer[:cut] for cut, char in enumerate(pointer) if char == "/" and cut > 0]
        within = next((a for a in ancestors if is_envelope(resolve_pointer(sealed, a))), None)
        assert within in pointers if within else is_envelope(resolve_pointer(sealed, pointer))
    assert open_sealed(sealed, keys) == as_sent
