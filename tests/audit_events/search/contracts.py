"""The contract every search adapter passes (SQL today, OpenSearch next).

A backend's module subclasses ``SearchIndexContract`` and provides
``create_index()`` and ``create_store()`` for the same database.
"""

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from audit_events.readers import Reader
from audit_events.search import parse_search_params
from audit_events.search.base import part_bounds
from portal.access.engine import decide, event_attributes, opensearch_filter, q_filter, tenant_scope
from portal.access.policy import PolicySpec, Subject
from tests.audit_events.store.contracts import event

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
ALL = PolicySpec(effect="allow", actions=["*"], conditions=[])


class SubjectReader(Reader):
    """A reader for a bare subject: the engine's filters, no audit, no masking."""

    def __init__(self, subject: Subject):
        self.subject = subject

    def may_read(self, action, event):
        return decide(self.subject, action, event_attributes(event.record), now=NOW).allowed

    def filter_for(self, action, dialect="sql"):
        if dialect == "opensearch":
            return opensearch_filter(self.subject, action, now=NOW)
        return q_filter(self.subject, action, now=NOW)

    def pii_filter_for(self, action, dialect="sql"):
        only = not self.subject.pii
        if dialect == "opensearch":
            return opensearch_filter(self.subject, "view_pii", now=NOW, only_break_glass=only)
        return q_filter(self.subject, "view_pii", now=NOW, only_break_glass=only)

    def tenant_scope(self, action):
        return tenant_scope(self.subject, action, now=NOW)

    def render(self, event):
        return event.to_json()

    def audit(self, kind, *, target, details=None):
        pass


def reader(*policies, pii=True, **attributes) -> SubjectReader:
    return SubjectReader(Subject(username="tester", policies=policies or (ALL,), pii=pii, **attributes))


def at(minutes: int) -> str:
    return (NOW - timedelta(minutes=minutes)).isoformat()


class SearchIndexContract:
    """Behaviour shared by all search adapters. Not collected itself."""

    def create_index(self):
        raise NotImplementedError

    def create_store(self):
        raise NotImplementedError

    @pytest.fixture
    def index(self):
        return self.create_index()

    @pytest.fixture
    def corpus(self, index):
        store = self.create_store()
        store.append([
            event(tenant="acme", aggregate_id="acc-1", event_type="PasswordChanged", occurred_at=at(50),
                  actor={"id": "u-ann", "type": "user", "ip": "10.1.2.3"}, classification="confidential",
                  payload={"holder": {"name": "Zelda Quux"}, "reason": "forgotten"}, trace_id="trace-a"),
            event(tenant="acme", aggregate_id="acc-1", event_type="AccountFrozen", occurred_at=at(40),
                  actor={"id": "svc-risk", "type": "service"}, classification="restricted", pii=[],
                  payload={"reason": "fraud suspicion"}, trace_id="trace-a"),
            event(tenant="acme", aggregate_id="acc-2", event_type="AccountOpened", occurred_at=at(30),
                  actor={"id": "u-bob", "type": "user", "ip": "2001:db8::7"}, classification="internal",
                  pii=[], payload={"currency": "EUR", "amount_cents": 1200}),
            event(tenant="globex", aggregate_id="g-1", event_type="AccountOpened", occurred_at=at(20),
                  actor={"id": "u-ann", "type": "user", "ip": "10.9.9.9"}, classification="internal",
                  payload={"holder": {"name": "Globex Person"}, "reason": "fraud"}),
        ])
        index.index(store.read_all())
        return store

    def search(self, index, who=None, **params):
        query = parse_search_params({k: str(v) for k, v in params.items()})
        return index.search(query, reader=who or reader())

    def types(self, store, result):
        return [e.record["event_type"] for e in store.get_many(result.event_ids)]

    # -- free text -----------------------------------------------------------

    def test_free_text_over_type_payload_actor_and_ip(self, index, corpus):
        assert self.types(corpus, self.search(index, q="frozen")) == ["AccountFrozen"]
        assert set(self.types(corpus, self.search(index, q="fraud"))) == {"AccountFrozen", "AccountOpened"}
        assert len(self.search(index, q="u-bob").event_ids) == 1
        assert self.search(index, q="nothing-like-this").event_ids == []

    def test_query_syntax_is_just_text(self, index, corpus):
        for text in ['"', "fraud OR *", "NEAR(fraud", "-fraud", "fraud AND", "a:b", "'; DROP TABLE x; --", "\\"]:
            self.search(index, q=text)  # never an error

    def test_personal_data_matches_only_for_readers_who_may_see_it(self, index, corpus):
        assert len(self.search(index, q="zelda").event_ids) == 1
        assert self.search(index, reader(pii=False), q="zelda").event_ids == []
        no_policy = reader(PolicySpec(effect="allow", actions=["search"], conditions=[]))
        assert self.search(index, no_policy, q="zelda").event_ids == []
        assert len(self.search(index, reader(pii=False), q="forgotten").event_ids) == 1  # not personal data

    # -- filters ---------------------------------------------------------------

    @pytest.mark.parametrize(
        "params, expected",
        [
            ({"tenant": "globex"}, 1),
            ({"event_type": "AccountOpened"}, 2),
            ({"actor_id": "u-ann"}, 2),
            ({"actor_type": "service"}, 1),
            ({"classification": "restricted"}, 1),
            ({"trace_id": "trace-a"}, 2),
            ({"aggregate_id": "acc-1"}, 2),
            ({"ip": "10.1.2.3"}, 1),
            ({"ip": "10.0.0.0/8"}, 2),
            ({"ip": "2001:db8::/32"}, 1),
            ({"from": at(45), "to": at(25)}, 2),
        ],
    )
    def test_filters(self, index, corpus, params, expected):
        assert len(self.search(index, **params).event_ids) == expected

    def test_recorded_time_range(self, index, corpus):
        future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
        assert self.search(index, time="recorded", **{"from": future}).event_ids == []
        assert len(self.search(index, time="recorded", to=future).event_ids) == 4

    # -- order, pages, counts ------------------------------------------------------

    def test_sort_and_cursor_pages(self, index, corpus):
        newest = self.search(index, limit=2)
        assert newest.total == 4 and newest.next_cursor
        rest = self.search(index, limit=2, cursor=newest.next_cursor)
        assert rest.next_cursor is None and rest.total is None  # counts come with the first page
        assert len(set(newest.event_ids + rest.event_ids)) == 4
        oldest = self.search(index, sort="oldest", limit=4)
        assert oldest.event_ids == list(reversed(newest.event_ids + rest.event_ids))

    def test_cursor_stays_correct_under_concurrent_ingest(self, index, corpus):
        first = self.search(index, limit=2)
        corpus.append([event(tenant="acme", aggregate_id="late", pii=[], payload={})])
        index.index(corpus.read_all())
        second = self.search(index, limit=2, cursor=first.next_cursor)
        assert len(set(first.event_ids + second.event_ids)) == 4  # the newcomer does not shift pages

    def test_facets_and_histogram(self, index, corpus):
        result = self.search(index)
        assert {"value": "acme", "count": 3} in result.facets["tenant"]
        assert {"value": "AccountOpened", "count": 2} in result.facets["event_type"]
        assert result.histogram["interval"]  # SQL picks hour/day/week/month; OpenSearch may pick finer
        assert sum(b["count"] for b in result.histogram["buckets"]) == 4
        ranged = self.search(index, **{"from": at(60), "to": at(0)})
        assert ranged.histogram["interval"] == "hour"  # with a range, both size buckets from it

    def test_exports_read_every_match_oldest_first_in_batches(self, index, corpus):
        oldest = self.search(index, sort="oldest", limit=4).event_ids
        batches = list(index.iter_matches(parse_search_params({}), reader=reader(), batch=3))
        assert all(len(b) <= 3 for b in batches)
        ids = [str(uuid.UUID(i)) for b in batches for _, i in b]  # any spelling get_many accepts
        assert ids == oldest
        positions = [p for b in batches for p, _ in b]
        assert positions == sorted(positions)
        hinted = corpus.get_many([i for b in batches for _, i in b], positions=positions)
        assert [e.record["event_id"] for e in hinted] == ids  # the store may read by the positions
        last = index.last_position()
        assert last == positions[-1]
        for n in (2, 3, 7):  # spans for n workers: in order, together every match once
            parts = [[m for b in index.iter_matches(parse_search_params({}), reader=reader(),
                                                    span=part_bounds(last, (k, n))) for m in b] for k in range(n)]
            assert [p for part in parts for p, _ in part] == positions
        with pytest.raises(ValueError):
            part_bounds(last, (2, 2))
        acme_only = reader(PolicySpec(effect="allow", actions=["search"],
                                      conditions=[{"attr": "tenant", "op": "eq", "value": "acme"}]))
        fraud = [str(uuid.UUID(i))
                 for b in index.iter_matches(parse_search_params({"q": "fraud"}), reader=acme_only) for _, i in b]
        assert fraud and fraud == self.search(index, acme_only, q="fraud", sort="oldest").event_ids

    def test_indexing_twice_changes_nothing(self, index, corpus):
        index.index(corpus.read_all())
        assert self.search(index).total == 4

    # -- access ---------------------------------------------------------------------

    def test_counts_facets_and_pages_stay_within_access(self, index, corpus):
        acme_only = reader(PolicySpec(effect="allow", actions=["search"],
                                      conditions=[{"attr": "tenant", "op": "eq", "value": "acme"}]))
        result = self.search(index, acme_only)
        assert result.total == 3
        assert [f["value"] for f in result.facets["tenant"]] == ["acme"]
        assert sum(b["count"] for b in result.histogram["buckets"]) == 3
        assert self.search(index, acme_only, tenant="globex").event_ids == []  # tampering
        assert self.search(index, reader(PolicySpec(effect="deny", actions=["*"], conditions=[]))).total == 0

    # -- combined filters against a row-by-row reference -------------------------------

    WORDS = ("fraud", "refund", "limit")
    TYPES = ("AccountFrozen", "AccountOpened", "TransferCompleted")

    @pytest.fixture
    def spread(self, index):
        """45 events over 3 tenants, 3 types and 20 days, some with a personal-data word."""
        store = self.create_store()
        store.append([
            event(tenant=("acme", "globex", "initech")[n % 3], aggregate_id=f"s-{n % 7}",
                  event_type=self.TYPES[n % 4 % 3], classification=("internal", "restricted")[n % 5 == 0],
                  occurred_at=(NOW - timedelta(days=n % 20, hours=n % 24)).isoformat(),
                  payload={"note": self.WORDS[n % 3], "holder": {"name": ("Zelda", "Quux")[n % 2]}},
                  pii=["/holder/name"], actor={"id": f"u-{n % 4}", "type": "user"})
            for n in range(45)
        ])
        index.index(store.read_all())
        return store

    @pytest.mark.parametrize("who", ["all", "acme", "no-pii", "not-restricted"])
    def test_combined_filters_select_what_a_row_by_row_check_selects(self, index, spread, who):
        acme = {"attr": "tenant", "op": "in", "value": ["acme", "initech"]}
        lowered = {"attr": "classification", "op": "lte", "value": "confidential"}
        person = {
            "all": reader(),
            "acme": reader(PolicySpec(effect="allow", actions=["*"], conditions=[acme])),
            "no-pii": reader(pii=False),
            "not-restricted": reader(PolicySpec(effect="allow", actions=["*"], conditions=[lowered])),
        }[who]
        from audit_events.privacy.sealing import KeyCache, open_record

        keys = KeyCache(getattr(index, "using", "default"))  # what a row shows those who may see personal data
        records = [open_record(e.record, keys) for e in spread.read_all()]
        windows = [None, (at(60 * 24 * 3 + 30), at(60 * 24)), (at(60 * 24 * 19), at(0)), (at(90), at(30))]
        for q in (None, "refund", "zelda", "fraud quux"):
            for tenant in (None, "globex", "initech"):
                for event_type in (None, "AccountFrozen"):
                    for window in windows:
                        params = {k: v for k, v in {"q": q, "tenant": tenant, "event_type": event_type,
                                                    "limit": 200}.items() if v is not None}
                        if window:
                            params.update({"from": window[0], "to": window[1]})
                        expected = sorted(r["event_id"] for r in records if self._selects(person, r, params))
                        result = self.search(index, person, **params)
                        assert sorted(result.event_ids) == expected, params
                        assert result.total == len(expected), params

    @staticmethod
    def _selects(person, record, params) -> bool:
        attrs = event_attributes(record)
        if not person.may_read("search", type("E", (), {"record": record})()):
            return False
        if any(record[k] != params[k] for k in ("tenant", "event_type") if k in params):
            return False
        if "from" in params:
            occurred = datetime.fromisoformat(record["occurred_at"].replace("Z", "+00:00"))
            if not datetime.fromisoformat(params["from"]) <= occurred < datetime.fromisoformat(params["to"]):
                return False
        may_see_pii = decide(person.subject, "view_pii", attrs, now=NOW).allowed and person.subject.pii
        words = {record["payload"]["note"]} | ({record["payload"]["holder"]["name"].lower()} if may_see_pii else set())
        return all(word in words for word in (params.get("q") or "").split())

    def test_bad_parameters_name_the_field(self):
        from audit_events.search import SearchQueryError

        for params, field in [({"limit": "0"}, "limit"), ({"ip": "nope"}, "ip"), ({"sort": "sideways"}, "sort"),
                              ({"from": "yesterday"}, "from"), ({"cursor": "zzz"}, "cursor"), ({"color": "x"}, "color"),
                              ({"from": at(1), "to": at(2)}, "to")]:
            with pytest.raises(SearchQueryError) as caught:
                parse_search_params(params)
            assert caught.value.errors[0]["field"] == field
