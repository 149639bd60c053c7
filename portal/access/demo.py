"""The demo's people and roles, in the access-as-code format (see docs/ACCESS.md)."""

from audit_events.demo import TENANTS

__all__ = ["DEMO_GROUPS", "DEMO_USERS", "demo_access_document", "grant_demo_groups"]

BANK, HOSPITAL, SHOP = TENANTS
READS = ["search", "view_event", "view_timeline", "replay_state"]

# username -> (description, attributes, roles, is_staff)
DEMO_USERS = {
    "admin": ("administrator: manages access, sees everything", None, ["administrator"], True),
    "auditor-bank": ("auditor of the bank", {"tenants": [BANK], "clearance": "confidential", "pii": True},
                     ["auditor"], True),
    "auditor-hospital": ("auditor of the hospital (may break the glass)",
                         {"tenants": [HOSPITAL], "clearance": "confidential", "pii": True},
                         ["auditor", "emergency-access"], True),
    "auditor-shop": ("auditor of the shop", {"tenants": [SHOP], "clearance": "confidential", "pii": True},
                     ["auditor"], True),
    "compliance": ("compliance officer: reports over every tenant",
                   {"tenants": list(TENANTS), "clearance": "restricted", "pii": True},
                   ["auditor", "compliance-officer"], True),
    "analyst": ("analyst without personal-data access",
                {"tenants": list(TENANTS), "clearance": "confidential", "pii": False}, ["auditor"], True),
}

# Django permissions the policies do not carry (the access file sets none): a group per job,
# name -> (permissions, members). The compliance officer triages alerts and asks for erasures,
# which the admin (a superuser) approves; auditors and the analyst read the inbox of their
# tenants without acting on it.
DEMO_GROUPS = {
    "alert-triage": (["audit_events.view_alert", "audit_events.change_alert"], ["compliance"]),
    "erasure-requests": (["audit_events.view_erasurerequest", "audit_events.add_erasurerequest",
                          "audit_events.view_legalhold"], ["compliance"]),
}


def demo_access_document(passwords: dict[str, str]) -> dict:
    """Roles and users of the demo; ``passwords`` sets each new user's password."""
    within_scope = [
        {"attr": "tenant", "op": "in", "value": "subject.tenants"},
        {"attr": "classification", "op": "lte", "value": "subject.clearance"},
    ]
    roles = [
        {
            "name": "auditor",
            "description": "Reads the events of their tenants up to their clearance.",
            "policies": [
                {"effect": "allow", "actions": READS + ["view_pii"], "conditions": within_scope},
            ],
        },
        {
            "name": "emergency-access",
            "description": "May open their own tenants' records in an emergency (break-glass).",
            "policies": [
                {"effect": "allow", "actions": ["break_glass"],
                 "conditions": [{"attr": "tenant", "op": "in", "value": "subject.tenants"}]},
            ],
        },
        {
            "name": "compliance-officer",
            "description": "Exports reports over their tenants, reviews the access audit, asks for erasures.",
            "policies": [
                {"effect": "allow", "actions": ["export_report"], "conditions": within_scope},
                {"effect": "allow", "actions": ["erase_subject"], "conditions": [
                    {"attr": "tenant", "op": "in", "value": "subject.tenants"}],
                 "description": "asks for data subjects to be erased; another admin approves"},
                {"effect": "allow", "actions": READS + ["export_report"], "conditions": [
                    {"attr": "tenant", "op": "eq", "value": "_portal"}],
                 "description": "who looked at what, and reports of it"},
            ],
        },
        {
            "name": "administrator",
            "description": "Manages access; reads everything, including the access audit.",
            "policies": [{"effect": "allow", "actions": ["*"], "conditions": []}],
        },
    ]
    users = []
    for username, (description, attributes, role_names, is_staff) in DEMO_USERS.items():
        user = {"username": username, "email": f"{username}@example.com", "roles": role_names,
                "is_staff": is_staff}
        if attributes is not None:
            user["attributes"] = attributes
        elif username == "admin":
            user["attributes"] = {"tenants": [*TENANTS, "_portal"], "clearance": "restricted", "pii": True}
        if username in passwords:
            user["password"] = passwords[username]
        users.append(user)
    return {"roles": roles, "users": users}


def grant_demo_groups() -> None:
    """Create the demo's groups with their permissions and put the demo users in them (idempotent)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    for name, (permissions, members) in DEMO_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for dotted in permissions:
            app_label, codename = dotted.split(".")
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.user_set.add(*get_user_model().objects.filter(username__in=members))
