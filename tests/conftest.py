"""Fixtures shared by the whole suite."""

import itertools
import json
import os
import uuid

import pytest
from django.contrib.auth import get_user_model

_counter = itertools.count(1)


def event_dict(**overrides) -> dict:
    """A valid ingest event; keyword arguments replace fields (``None`` removes one)."""
    event = {
        "tenant": "acme",
        "aggregate_type": "Account",
        "aggregate_id": "acc-1",
        "event_type": "AccountUpdated",
        "occurred_at": "2026-11-20T09:30:00.250000+01:00",
        "actor": {"id": "u-jsmith", "type": "user", "ip": "192.0.2.10", "user_agent": "Mozilla/5.0"},
        "classification": "confidential",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "pii": ["/holder/name"],
        "payload": {"holder": {"name": "Ann Example"}, "balance_cents": 125000, "note": "Grüße ✓"},
    }
    for key, value in overrides.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


@pytest.fixture
def make_event():
    return event_dict


@pytest.fixture
def publisher(db):
    """A publisher key for tenants acme and globex: ``(key, secret)``."""
    from audit_events.services import publisher_key_create

    return publisher_key_create(name=f"publisher-{next(_counter)}", tenants=["acme", "globex"])


class ApiClient:
    """Django's test client speaking JSON with a bearer token."""

    def __init__(self, client, token=None):
        self.client = client
        self.token = token

    def _headers(self, token):
        token = self.token if token is ... else token
        return {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def post(self, path, body, token=..., **extra):
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.client.post(
            path, data, content_type="application/json", **self._headers(token), **extra
        )

    def get(self, path, token=..., **extra):
        return self.client.get(path, **self._headers(token), **extra)


@pytest.fixture
def api(client, publisher):
    return ApiClient(client, publisher[1])


# -- people and events for access tests (used by several packages) -------------

AUDITOR_POLICIES = [
    {
        "effect": "allow",
        "actions": ["search", "view_event", "view_timeline", "replay_state", "view_pii"],
        "conditions": [
            {"attr": "tenant", "op": "in", "value": "subject.tenants"},
            {"attr": "classification", "op": "lte", "value": "subject.clearance"},
        ],
    }
]


from audit_events.store import get_event_store  # noqa: E402
from portal.access.models import Policy, Role, SubjectAttributes  # noqa: E402
from portal.access.services import user_token_create  # noqa: E402


@pytest.fixture
def make_person(db):
    """Create a user with attributes and a role holding ``policies``."""

    def make(username, *, tenants=(), clearance="restricted", pii=True, policies=AUDITOR_POLICIES, **extra):
        user = get_user_model().objects.create_user(username, f"{username}@example.com", "x-unused-Password-1")
        SubjectAttributes.objects.create(user=user, tenants=list(tenants), clearance=clearance, pii=pii, **extra)
        role = Role.objects.create(name=f"role-of-{username}")
        for spec in policies:
            Policy.objects.create(role=role, **spec)
        role.members.add(user)
        return user

    return make


@pytest.fixture
def signed_in_staff(make_person, client):
    """``make_person``, made staff (the portal is the admin) and signed in with ``client``."""

    def make(username, **attributes):
        user = make_person(username, **attributes)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        client.force_login(user)
        return user

    return make


@pytest.fixture
def as_user(client, token_for):
    """``as_user(user)``: an API client signed in with a personal token of ``user``."""
    return lambda user: ApiClient(client, token_for(user))


def audit_of(username: str) -> list[dict]:
    """The access-audit records of one person, oldest first."""
    from audit_events.store import get_event_store

    return [e.record for e in get_event_store().read_aggregate("_portal", "User", f"user:{username}", limit=1000)]


@pytest.fixture
def token_for(db):
    def issue(user):
        return user_token_create(user=user, name="test")[1]

    return issue


@pytest.fixture
def events(db):
    """Events in acme (with personal data) and globex, one restricted."""
    from tests.audit_events.store.contracts import event  # it imports this module

    store = get_event_store()
    acme = store.append([
        event(tenant="acme", aggregate_id="acc-1", payload={"holder": {"name": "Ann Secret-Name"}, "n": 1}),
        event(tenant="acme", aggregate_id="acc-1", payload={"holder": {"name": "Ann Secret-Name"}, "n": 2},
              classification="restricted"),
    ])
    globex = store.append([event(tenant="globex", aggregate_id="g-1", payload={"holder": {"name": "Gus Hidden"}})])
    return {"acme": acme, "globex": globex}


# -- a real OpenSearch engine -------------------------------------------------------


@pytest.fixture(scope="session")
def opensearch_url(tmp_path_factory):
    """URL of a running OpenSearch: ``OPENSEARCH_URL``, or the embedded engine started here.

    When it cannot start, the tests fail under ``CI`` and skip elsewhere.
    """
    from tests.services.opensearch import OpenSearchUnavailable, start_opensearch, stop_opensearch

    url = os.environ.get("OPENSEARCH_URL")
    if url:
        yield url.rstrip("/")
        return
    try:
        url, process = start_opensearch(tmp_path_factory.mktemp("opensearch"))
    except (OpenSearchUnavailable, OSError) as exc:
        reason = f"the test OpenSearch engine could not start: {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    try:
        yield url
    finally:
        stop_opensearch(process)


@pytest.fixture(scope="session")
def moto_url():
    """An AWS-compatible endpoint for the session: ``AWS_ENDPOINT_URL`` when set, else moto
    in server mode on a free loopback port.

    moto's backends are not thread-safe (a DynamoDB transaction checks, writes and rolls
    back a copy of the table without a lock), so the server answers one request at a time:
    DynamoDB's own transactions are serializable, and concurrency tests must see that.
    """
    if os.environ.get("AWS_ENDPOINT_URL"):
        yield os.environ["AWS_ENDPOINT_URL"]
        return
    import threading

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    _copy_tables_once_per_transaction()
    from tests.moto_kms_ed25519 import teach_moto_ed25519  # AWS KMS has Ed25519 keys, moto 5.2 not

    teach_moto_ed25519()
    app, lock = DomainDispatcherApplication(create_backend_app), threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            return list(app(environ, start_response))

    class Quiet(MotoRequestHandler):
        def log_request(self, *args):  # a line per request would bury a failing test's output
            pass

    server = make_server("127.0.0.1", 0, one_at_a_time, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def _copy_tables_once_per_transaction():
    """moto 5 backs up a table for every item of a DynamoDB transaction (a deep copy each:
    seconds per transaction once a table holds a few hundred events). The copies are all
    taken before the first write, so one per table is the same backup. Safe only because
    the server answers one request at a time."""
    import copy
    import types

    from moto.dynamodb import models

    if getattr(models.DynamoDBBackend.transact_write_items, "copies_once", False):
        return
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        copies = {}

        def deepcopy(value, memo=None):
            if id(value) not in copies:
                copies[id(value)] = (value, copy.deepcopy(value, memo))
            return copies[id(value)][1]

        models.copy = types.SimpleNamespace(deepcopy=deepcopy)
        try:
            return original(self, transact_items)
        finally:
            models.copy = copy

    transact_write_items.copies_once = True
    models.DynamoDBBackend.transact_write_items = transact_write_items


AWS_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}


# -- the same tests on either event store ------------------------------------------------


def pytest_generate_tests(metafunc):
    """Tests marked ``both_stores`` run once per event store: SQL, and DynamoDB on the test server."""
    if metafunc.definition.get_closest_marker("both_stores") and "audit_store" in metafunc.fixturenames:
        metafunc.parametrize("audit_store", ["sql", "dynamodb"], indirect=True)


@pytest.fixture(autouse=True)
def audit_store(request):
    """The event store the test runs on ("sql" unless parametrized); on "dynamodb", a table of
    its own on the AWS test server, named in settings as bootstrap_aws would make it."""
    store = getattr(request, "param", "sql")
    if store == "sql":
        yield store
        return
    from audit_events.aws_resources import make_table

    settings = request.getfixturevalue("settings")
    request.getfixturevalue("aws_endpoint")
    table = f"events-{uuid.uuid4().hex[:12]}"
    make_table("events", table)
    settings.AUDIT_STORE = store
    settings.AUDIT_DYNAMODB_TABLES = {**settings.AUDIT_DYNAMODB_TABLES, "events": table}
    get_event_store.cache_clear()
    yield store
    get_event_store.cache_clear()


@pytest.fixture
def aws_endpoint(moto_url, monkeypatch):
    """The dummy credentials, a region and the moto server's URL in the environment, where boto3
    finds them as a Lambda finds its own; the URL."""
    for name, value in {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": moto_url}.items():
        monkeypatch.setenv(name, value)
    return moto_url


@pytest.fixture
def aws_credentials(monkeypatch):
    """Dummy credentials and a region, as boto3 and django-storages read them."""
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def aws_client(moto_url):
    """``aws_client("s3")``: a boto3 client of the moto server, with the dummy credentials."""
    import boto3

    def make(service: str):
        return boto3.client(service, endpoint_url=moto_url, region_name=AWS_TEST_ENV["AWS_DEFAULT_REGION"],
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    return make


# -- checkpoints: keys and archive copies never in the checkout's var/ ----------------------


@pytest.fixture(autouse=True)
def checkpoint_files(settings, tmp_path_factory):
    """The local signing and master keys under the session's temporary directory (one of each for
    the session, as one install has them) and an archive directory (checkpoint copies) of the
    test's own."""
    settings.AUDIT_CHECKPOINT_KEY_FILE = str(tmp_path_factory.getbasetemp() / "keys" / "checkpoint-ed25519.pem")
    settings.AUDIT_MASTER_KEY_FILE = str(tmp_path_factory.getbasetemp() / "keys" / "master.key")
    archive = tmp_path_factory.mktemp("archive")
    settings.STORAGES = {**settings.STORAGES, "archive": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(archive)}}}
