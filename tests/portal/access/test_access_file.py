"""Access as code: import_access and export_access over JSON and YAML files."""

import copy
import json
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from audit_events.models import StoredEvent
from portal.access.access_file import AccessFileError, import_document, load_document, validate_document
from portal.access.models import Policy, Role, SubjectAttributes

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct-horse-battery-staple-7"

ACCESS = {
    "roles": [
        {
            "name": "auditor",
            "description": "Reads the events of their tenants, up to their clearance.",
            "policies": [
                {
                    "effect": "allow",
                    "actions": ["search", "view_event", "view_timeline", "replay_state"],
                    "conditions": [
                        {"attr": "tenant", "op": "in", "value": "subject.tenants"},
                        {"attr": "classification", "op": "lte", "value": "subject.clearance"},
                    ],
                },
                {
                    "description": "no payroll",
                    "effect": "deny",
                    "actions": ["*"],
                    "conditions": [{"attr": "aggregate_type", "op": "eq", "value": "Payroll"}],
                    "valid_from": "2026-01-01T00:00:00+00:00",
                },
            ],
        },
        {
            "name": "compliance-officer",
            "policies": [{"effect": "allow", "actions": ["export_report", "view_pii"]}],
        },
    ],
    "users": [
        {
            "username": "ann",
            "email": "ann@example.com",
            "password": PASSWORD,
            "roles": ["auditor"],
            "attributes": {"tenants": ["acme"], "clearance": "confidential", "extra": {"region": "eu"}},
        },
        {"username": "bob", "roles": ["auditor", "compliance-officer"], "is_staff": True},
    ],
}


def access_changes() -> int:
    return StoredEvent.objects.filter(tenant="_portal", event_type="AccessChanged").count()


def details(event: StoredEvent) -> dict:
    return json.loads(event.record)["payload"]["details"]


def write(tmp_path, data, name="access.json") -> str:
    path = tmp_path / name
    if name.endswith((".yaml", ".yml")):
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    else:
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return str(path)


def run(command: str, *args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def import_errors(tmp_path, data, name="access.json") -> list[str]:
    """The error lines import_access prints for ``data`` (it must fail)."""
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_access", write(tmp_path, data, name), stdout=StringIO(), stderr=err)
    return err.getvalue().splitlines()


def state() -> dict:
    """Everything an import may write, for before/after comparisons."""
    return {
        "roles": list(Role.objects.values_list("name", "description")),
        "policies": list(Policy.objects.values_list("role__name", "effect", "actions", "conditions")),
        "users": list(User.objects.values_list("username", "email", "is_staff", "password")),
        "attributes": list(SubjectAttributes.objects.values_list("user__username", "tenants", "clearance")),
        "members": sorted(Role.members.through.objects.values_list("role__name", "user__username")),
        "audit": access_changes(),
    }


def assert_imported():
    auditor = Role.objects.get(name="auditor")
    assert auditor.description.startswith("Reads the events")
    allow, deny = auditor.policies.order_by("pk")
    assert allow.effect == "allow" and allow.conditions[1] == {
        "attr": "classification", "op": "lte", "value": "subject.clearance"
    }
    assert deny.effect == "deny" and deny.description == "no payroll" and deny.valid_from.year == 2026
    ann = User.objects.get(username="ann")
    assert ann.email == "ann@example.com" and not ann.is_staff and ann.check_password(PASSWORD)
    assert ann.access_attributes.tenants == ["acme"] and ann.access_attributes.clearance == "confidential"
    assert ann.access_attributes.extra == {"region": "eu"} and ann.access_attributes.pii is False
    assert set(ann.access_roles.values_list("name", flat=True)) == {"auditor"}
    bob = User.objects.get(username="bob")
    assert bob.is_staff and not bob.has_usable_password()
    assert set(bob.access_roles.values_list("name", flat=True)) == {"auditor", "compliance-officer"}
    assert not SubjectAttributes.objects.filter(user=bob).exists()  # defaults need no row


@pytest.mark.parametrize("name", ["access.json", "access.yaml", "access.yml"])
def test_import_a_valid_file(tmp_path, name):
    out, _ = run("import_access", write(tmp_path, ACCESS, name))

    assert out.strip() == "roles: 2 created, 0 updated, 0 unchanged; users: 2 created, 0 updated, 0 unchanged"
    assert_imported()
    (event,) = StoredEvent.objects.filter(tenant="_portal", event_type="AccessChanged")
    assert event.actor_id == "command:import_access"
    assert PASSWORD not in event.record
    assert details(event)["users_created"] == ["ann", "bob"]


def test_a_second_import_changes_nothing(tmp_path):
    path = write(tmp_path, ACCESS)
    run("import_access", path)
    before = state()

    out, _ = run("import_access", path)

    assert out.strip() == "roles: 0 created, 0 updated, 2 unchanged; users: 0 created, 0 updated, 2 unchanged"
    assert state() == before  # including no new AccessChanged event


def test_updates_report_what_changed(tmp_path):
    run("import_access", write(tmp_path, ACCESS))
    changed = copy.deepcopy(ACCESS)
    changed["roles"][1]["policies"][0]["actions"] = ["export_report"]
    changed["users"][0]["attributes"]["clearance"] = "restricted"
    changed["users"][1]["email"] = "bob@example.com"

    out, _ = run("import_access", write(tmp_path, changed))

    assert out.strip() == "roles: 0 created, 1 updated, 1 unchanged; users: 0 created, 2 updated, 0 unchanged"
    assert Policy.objects.get(role__name="compliance-officer").actions == ["export_report"]
    assert User.objects.get(username="ann").access_attributes.clearance == "restricted"
    event = StoredEvent.objects.filter(tenant="_portal", event_type="AccessChanged").latest("position")
    assert details(event)["roles_updated"] == {"compliance-officer": ["policies"]}
    assert details(event)["users_updated"] == {"ann": ["attributes"], "bob": ["email"]}


def test_an_invalid_file_reports_every_error_with_its_path_and_writes_nothing(tmp_path):
    run("import_access", write(tmp_path, ACCESS))
    before = state()
    bad = copy.deepcopy(ACCESS)
    bad["roles"][0]["policies"][0]["conditions"].append({"attr": "tenant", "op": "like", "value": "a"})
    bad["roles"][0]["policies"][1]["actions"] = ["search", "delete"]
    bad["roles"][0]["policies"][1]["valid_until"] = "2025-01-01T00:00:00+00:00"  # before valid_from
    bad["roles"][1]["policies"][0]["conditions"] = [{"attr": "tenant", "op": "in", "value": "acme"}]
    bad["roles"][1]["colour"] = "red"
    bad["users"][0]["attributes"]["clearance"] = "secret"
    bad["users"][0]["email"] = "not-an-email"
    bad["users"][1]["username"] = "ann"
    bad["users"].append({"username": "carol", "roles": ["auditor"], "attributes": {"pii": "yes"}})

    errors = import_errors(tmp_path, bad)

    assert errors == [
        "roles[0].policies[0].conditions[2].op: Input should be 'eq', 'in', 'not_in', 'prefix', 'lte' or 'gte'",
        "roles[0].policies[1].actions[1]: " + errors[1].split(": ", 1)[1],
        "roles[1].policies[0].conditions[0].value: in takes a list of strings",
        "roles[1].colour: Extra inputs are not permitted",
        "users[0].attributes.clearance: Input should be 'public', 'internal', 'confidential' or 'restricted'",
        "users[0].email: Enter a valid email address.",
        "users[1].username: duplicate user 'ann' (first at users[0])",
        "users[2].attributes.pii: Input should be a valid boolean",
    ]
    assert errors[1].startswith("roles[0].policies[1].actions[1]: Input should be 'search'")
    assert state() == before


def test_the_validity_window_is_checked_by_the_policy_spec(tmp_path):
    bad = copy.deepcopy(ACCESS)
    bad["roles"][0]["policies"][1]["valid_until"] = "2025-01-01T00:00:00+00:00"

    assert validate_document(bad) == ["roles[0].policies[1].valid_until: must be later than valid_from"]


def test_condition_values_must_be_strings_or_lists_of_strings():
    bad = copy.deepcopy(ACCESS)
    bad["roles"][0]["policies"][0]["conditions"] = [
        {"attr": "tenant", "op": "in", "value": 5},
        {"attr": "tenant", "op": "in", "value": ["acme", 7]},
    ]

    assert validate_document(bad) == [
        "roles[0].policies[0].conditions[0].value: Input should be a string or a list of strings",
        "roles[0].policies[0].conditions[1].value[1]: Input should be a valid string",
    ]


def test_unknown_role_reference(tmp_path):
    bad = copy.deepcopy(ACCESS)
    bad["users"][0]["roles"] = ["auditor", "auditor-x"]

    errors = import_errors(tmp_path, bad)

    assert errors == ["users[0].roles[1]: unknown role 'auditor-x' (not in this file nor the database)"]
    assert not Role.objects.exists() and not User.objects.exists()


def test_roles_may_come_from_the_database(tmp_path):
    Role.objects.create(name="admin")
    data = {"users": [{"username": "dana", "roles": ["admin"]}]}

    run("import_access", write(tmp_path, data))

    assert list(User.objects.get(username="dana").access_roles.values_list("name", flat=True)) == ["admin"]


def test_an_invalid_role_entry_is_not_also_reported_as_unknown():
    bad = copy.deepcopy(ACCESS)
    bad["roles"][1]["policies"][0]["effect"] = "maybe"

    assert validate_document(bad) == ["roles[1].policies[0].effect: Input should be 'allow' or 'deny'"]


def test_a_password_failing_the_validators_is_an_error_and_never_printed(tmp_path):
    bad = copy.deepcopy(ACCESS)
    bad["users"][0]["password"] = "ann12"

    errors = import_errors(tmp_path, bad)

    assert errors == [
        "users[0].password: The password is too similar to the username.",
        "users[0].password: This password is too short. It must contain at least 12 characters.",
    ]
    assert not any("ann12" in e for e in errors)
    assert not User.objects.exists()


def test_the_password_is_set_only_when_it_differs(tmp_path):
    run("import_access", write(tmp_path, ACCESS))
    ann = User.objects.get(username="ann")
    ann.set_password("changed-by-ann-herself-42")
    ann.save()

    changed = copy.deepcopy(ACCESS)
    changed["users"][0]["password"] = "a-new-initial-password-9"
    out, _ = run("import_access", write(tmp_path, changed))

    assert "users: 0 created, 1 updated, 1 unchanged" in out
    assert User.objects.get(username="ann").check_password("a-new-initial-password-9")
    hashed = User.objects.get(username="ann").password
    run("import_access", write(tmp_path, changed))
    assert User.objects.get(username="ann").password == hashed  # same password: not re-hashed


def test_an_existing_password_is_not_rejudged_by_the_validators(tmp_path):
    user = User.objects.create(username="erin")
    user.set_password("short")  # set before the validators were in place
    user.save()

    assert validate_document({"users": [{"username": "erin", "password": "short"}]}) == []


def test_memberships_become_exactly_the_listed_roles(tmp_path):
    other = Role.objects.create(name="legacy")
    run("import_access", write(tmp_path, ACCESS))
    bob = User.objects.get(username="bob")
    other.members.add(bob)

    changed = copy.deepcopy(ACCESS)
    changed["users"][1]["roles"] = ["compliance-officer"]
    run("import_access", write(tmp_path, changed))

    assert set(bob.access_roles.values_list("name", flat=True)) == {"compliance-officer"}
    assert Role.objects.filter(name="legacy").exists()  # roles the file does not list are left alone


def test_policies_are_replaced_by_the_files_list(tmp_path):
    run("import_access", write(tmp_path, ACCESS))
    changed = copy.deepcopy(ACCESS)
    changed["roles"][0]["policies"] = changed["roles"][0]["policies"][1:]

    run("import_access", write(tmp_path, changed))

    assert list(Policy.objects.filter(role__name="auditor").values_list("effect", flat=True)) == ["deny"]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_export_then_import_round_trips(tmp_path, fmt):
    run("import_access", write(tmp_path, ACCESS))
    User.objects.create(username="nobody")  # no access at all: not exported
    User.objects.create(username="gone", is_active=False, is_staff=True)  # inactive: not exported
    first, _ = run("export_access", "--format", fmt)
    path = tmp_path / f"export.{fmt}"
    path.write_text(first, encoding="utf-8")

    out, _ = run("import_access", str(path))
    second, _ = run("export_access", "--format", fmt)

    assert "0 created, 0 updated" in out and out.count("0 created, 0 updated") == 2
    assert second == first
    exported = load_document(first, filename=f"export.{fmt}")
    assert [u["username"] for u in exported["users"]] == ["ann", "bob"]
    assert [r["name"] for r in exported["roles"]] == ["auditor", "compliance-officer"]
    assert PASSWORD not in first and "password" not in first


def test_export_to_a_file_and_import_it_into_an_empty_database(tmp_path):
    run("import_access", write(tmp_path, ACCESS))
    path = tmp_path / "out.yaml"
    run("export_access", "--output", str(path))  # format from the extension
    exported = yaml.safe_load(path.read_text(encoding="utf-8"))
    User.objects.all().delete()
    Role.objects.all().delete()

    run("import_access", str(path))

    assert export_of_database() == exported


def export_of_database() -> dict:
    out, _ = run("export_access")
    return json.loads(out)


def test_dry_run_writes_nothing(tmp_path):
    before = state()

    out, _ = run("import_access", write(tmp_path, ACCESS), "--dry-run")

    assert out.strip() == (
        "roles: 2 created, 0 updated, 0 unchanged; users: 2 created, 0 updated, 0 unchanged"
        " (dry run: nothing written)"
    )
    assert state() == before


def test_unparsable_files_are_reported_with_their_name(tmp_path):
    (tmp_path / "broken.json").write_text('{"roles": [}', encoding="utf-8")
    (tmp_path / "twice.yaml").write_text("roles: []\nroles: []\n", encoding="utf-8")

    for name, message in [
        ("broken.json", "broken.json: invalid JSON: Expecting value (line 1, column 12)"),
        ("twice.yaml", "twice.yaml: invalid YAML: duplicate key 'roles' (line 2, column 1)"),
    ]:
        err = StringIO()
        with pytest.raises(CommandError):
            call_command("import_access", str(tmp_path / name), stdout=StringIO(), stderr=err)
        assert err.getvalue().strip() == message


def test_import_document_validates_first():
    with pytest.raises(AccessFileError) as caught:
        import_document({"roles": [{"name": ""}], "groups": []}, actor="tester")

    assert caught.value.errors == ["groups: Extra inputs are not permitted"]
    assert not Role.objects.exists()


def test_every_rule_of_the_policy_spec_applies_to_files():
    bad = copy.deepcopy(ACCESS)
    bad["roles"][0]["policies"][0]["conditions"] *= 26  # PolicySpec allows 50

    (error,) = validate_document(bad)

    assert error.startswith("roles[0].policies[0].conditions: List should have at most 50 items")


def test_the_documented_example_imports(tmp_path):
    docs = Path(__file__).resolve().parents[3] / "docs" / "ACCESS.md"
    example = docs.read_text(encoding="utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.yaml").write_text(example, encoding="utf-8")

    out, _ = run("import_access", str(tmp_path / "example.yaml"))

    assert out.strip() == "roles: 4 created, 0 updated, 0 unchanged; users: 4 created, 0 updated, 0 unchanged"


def test_superusers_change_only_when_allowed(tmp_path):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("root", "root@example.com", "x-unused-Password-1")
    data = {"roles": [], "users": [{"username": "root", "password": "another-Long-password-9"}]}
    path = tmp_path / "takeover.json"
    path.write_text(json.dumps(data))
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_access", str(path), stdout=StringIO(), stderr=err)
    assert "'root' is a superuser" in err.getvalue()
    root = get_user_model().objects.get(username="root")
    assert root.check_password("x-unused-Password-1") and root.is_staff
    call_command("import_access", str(path), "--allow-superusers", stdout=StringIO(), stderr=StringIO())
    assert get_user_model().objects.get(username="root").check_password("another-Long-password-9")
