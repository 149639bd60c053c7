"""Search returns exactly the events the per-event decision allows (hypothesis).

Random events are indexed once; random subjects, policies and queries then
check that results, totals and facets never include an event the reader may
not see, and that personal data matches only where it could be shown.
"""

import random
import re
from datetime import datetime, timedelta, timezone

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit_events.search import parse_search_params
from audit_events.search.documents import document_for
from audit_events.search.sql import SQLSearchIndex
from audit_events.privacy.sealing import KeyCache
from audit_events.store.sql import SQLEventStore
from portal.access.engine import decide, event_attributes
from portal.access.policy import ACTIONS, CLASSIFICATIONS, PolicySpec, Subject
from tests.audit_events.search.contracts import NOW, SubjectReader
from tests.audit_events.store.contracts import event
from tests.audit_events.store.test_sql import require_postgres
from tests.audit_events.search.test_opensearch import opensearch_index  # noqa: F401 (fixture)
from tests.portal.access.test_filter_agreement import policies

WORDS = ["alpha", "bravo", "charlie", "delta", "echo"]
TENANTS = ["acme", "globex", "initech"]
_WORD = re.compile(r"\w+")


def _events():
    rng = random.Random(11)
    made = []
    for n in range(60):
        pii_word, public_word = rng.choice(WORDS), rng.choice(WORDS)
        made.append(event(
            tenant=rng.choice(TENANTS), aggregate_type=rng.choice(["Account", "Patient"]),
            aggregate_id=f"a-{rng.randrange(6)}", event_type=rng.choice(["Opened", "Viewed", "Closed"]),
            classification=rng.choice(CLASSIFICATIONS), pii=["/who"] if rng.random() < 0.7 else [],
            actor={"id": rng.choice(["u-1", "u-2", "svc-a"]), "type": rng.choice(["user", "service"])},
            occurred_at=(NOW - timedelta(hours=n)).isoformat(),
            payload={"who": pii_word, "note": public_word},
        ))
    return made


queries = st.fixed_dictionaries({}, optional={
    "q": st.sampled_from(WORDS),
    "tenant": st.sampled_from(TENANTS),
    "classification": st.sampled_from(CLASSIFICATIONS),
    "event_type": st.sampled_from(["Opened", "Viewed", "Closed"]),
})
subjects = st.builds(
    Subject,
    username=st.just("tester"),
    tenants=st.lists(st.sampled_from(TENANTS), max_size=2).map(tuple),
    clearance=st.sampled_from(CLASSIFICATIONS),
    pii=st.booleans(),
    policies=st.lists(policies(), max_size=4).map(tuple),
)


def expected(stored, subject, params, keys):
    chosen = set()
    reader = SubjectReader(subject)
    for item in stored:
        attrs = event_attributes(item.record)
        if not decide(subject, "search", attrs, now=NOW).allowed:
            continue
        if any(params.get(k) not in (None, attrs[k]) for k in ("tenant", "classification", "event_type")):
            continue
        if "q" in params:
            document = document_for(item, keys)  # personal data opened, as the index does
            public = {w.lower() for w in _WORD.findall(document["text"])}
            private = {w.lower() for w in _WORD.findall(document["pii_text"])}
            pii_ok = decide(subject, "view_pii", attrs, now=NOW)
            pii_ok = pii_ok.allowed and (subject.pii or pii_ok.via_break_glass)
            if params["q"] not in public and not (pii_ok and params["q"] in private):
                continue
        chosen.add(item.record["event_id"])
    return chosen


_POSTGRES = ["postgres"] if "postgres" in django_settings.DATABASES else []


@pytest.mark.parametrize(
    "alias",
    [
        pytest.param("default", marks=pytest.mark.django_db(databases=["default"])),
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.django_db(databases=_POSTGRES)]),
        pytest.param("opensearch", marks=[pytest.mark.opensearch, pytest.mark.django_db(databases=["default"])]),
    ],
)
def test_search_agrees_with_the_decision(alias, request):
    if alias == "postgres":
        require_postgres()
    if alias == "opensearch":
        index = request.getfixturevalue("opensearch_index")
        store = SQLEventStore(using="default")
    else:
        store, index = SQLEventStore(using=alias), SQLSearchIndex(using=alias)
    store.append(_events())
    stored = store.read_all()
    index.index(stored)
    keys = KeyCache(store.using)  # the subjects' keys live beside the events

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(subjects, queries)
    def check(subject, params):
        result = index.search(parse_search_params({**params, "limit": "200"}), reader=SubjectReader(subject))
        wanted = expected(stored, subject, params, keys)
        assert set(result.event_ids) == wanted
        assert result.total == len(wanted)
        assert sum(f["count"] for f in result.facets["tenant"]) == len(wanted)

    check()
