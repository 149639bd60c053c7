"""Failed projections on the embedded projector: kept with their error, never skipped silently,
held per aggregate (others carry on), retried from the portal."""

import re

import pytest

from audit_events.models import FailedProjection, ProjectionCheckpoint
from audit_events.projections import Projection
from audit_events.projector import catch_up, rebuild, retry_failed
from audit_events.store import get_event_store
from tests.audit_events.store.contracts import event

pytestmark = pytest.mark.django_db


class Picky(Projection):
    """Records what it applies, per aggregate, in order; raises on a poison payload until healed."""

    name = "picky"

    def __init__(self):
        self.applied, self.healed = [], False

    def handle(self, events):
        for e in events:
            if e.record["payload"].get("poison") and not self.healed:
                raise ValueError(f"cannot apply {e.aggregate_id} #{e.sequence}")
        self.applied += [(e.aggregate_id, e.sequence) for e in events]


def append(*specs):
    return get_event_store().append([event(aggregate_id=a, payload=p, pii=[]) for a, p in specs])


def open_failures():
    return [(f.aggregate_id, f.sequence, f.attempts) for f in
            FailedProjection.objects.filter(resolved_at__isnull=True).order_by("position")]


def test_a_failure_is_kept_its_aggregate_held_and_the_others_go_on():
    picky = Picky()
    append(("a", {"n": 1}), ("a", {"poison": True}), ("b", {"n": 1}), ("a", {"n": 3}), ("b", {"n": 2}))
    assert catch_up(projections=[picky]) == {"picky": 5}  # the checkpoint moves on, nothing is lost
    assert picky.applied == [("a", 1), ("b", 1), ("b", 2)]
    assert open_failures() == [("a", 2, 1), ("a", 3, 0)]
    failed, held = FailedProjection.objects.order_by("position")
    assert failed.error == "ValueError: cannot apply a #2"
    assert re.fullmatch(rf"waits for the failed event at position {failed.position} of its aggregate", held.error)
    assert ProjectionCheckpoint.objects.get(name="picky").position == get_event_store().last_position()

    append(("a", {"n": 4}), ("c", {"n": 1}))  # later events of a are held too; c is not
    catch_up(projections=[picky])
    assert picky.applied[-1] == ("c", 1) and open_failures()[-1] == ("a", 4, 0)

    assert retry_failed(projections=[picky]) == {"picky": 0}  # still poison: a stays held, tried again
    assert open_failures() == [("a", 2, 2), ("a", 3, 0), ("a", 4, 0)]
    picky.healed = True
    assert retry_failed(projections=[picky]) == {"picky": 3}
    assert [s for a, s in picky.applied if a == "a"] == [1, 2, 3, 4]  # in order, none skipped
    assert open_failures() == []
    append(("a", {"n": 5}))
    catch_up(projections=[picky])
    assert picky.applied[-1] == ("a", 5)


def test_a_rebuild_forgets_the_failures_it_replays():
    picky = Picky()
    append(("a", {"poison": True}))
    catch_up(projections=[picky])
    assert open_failures() == [("a", 1, 1)]
    rebuild(picky)
    assert FailedProjection.objects.count() == 0


def test_admins_retry_from_the_portal_and_see_them_in_metrics(client, settings, make_person):
    from django.contrib.auth import get_user_model

    settings.AUDIT_PROJECTIONS = [*settings.AUDIT_PROJECTIONS, "tests.audit_events.test_failed_projections.Flaky"]
    append(("a", {"flaky": True}))
    Flaky.failing = True
    catch_up()
    (row,) = FailedProjection.objects.all()
    admin = get_user_model().objects.create_superuser("ops", "ops@example.com", "x-unused-Password-1")
    client.force_login(admin)
    page = client.get("/admin/audit_events/failedprojection/?state=open")
    assert page.status_code == 200 and "flaky" in page.content.decode()
    metrics = client.get("/metrics").content.decode()
    assert 'audit_failed_projection_events{projection="flaky"} 1' in metrics
    Flaky.failing = False
    response = client.post("/admin/audit_events/failedprojection/",
                           {"action": "retry", "_selected_action": [row.pk]}, follow=True)
    assert "1 applied; 0 of the selected still fail." in response.content.decode()
    assert FailedProjection.objects.get().resolved_at is not None
    assert 'audit_failed_projection_events{projection="flaky"} 0' in client.get("/metrics").content.decode()
    # Not for everyone: staff without the permission see no such page.
    client.force_login(make_person("auditor-x"))
    assert client.get("/admin/audit_events/failedprojection/").status_code in (302, 403, 404)


class Flaky(Projection):
    """A configured projection that fails while ``failing`` (a broken dependency)."""

    name = "flaky"
    failing = False

    def handle(self, events):
        if Flaky.failing and any(e.record["payload"].get("flaky") for e in events):
            raise ConnectionError("the search engine is unreachable")
