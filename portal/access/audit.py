"""The access audit: every read and access change, appended to the ``_portal`` tenant.

The events go through the same store and hash chain as any publisher's; no
publisher key can write ``_portal`` (tenants starting with ``_`` are reserved).
Each actor's actions form one aggregate (``User/user:<username>``,
``User/key:<key id>``…), so a person's activity is one timeline; the target
of each read is in the payload.
"""

import re
import uuid

from django.utils import timezone

from audit_events.schema import ActorIn, EventIn
from audit_events.store import get_event_store

__all__ = ["PORTAL_TENANT", "actor_id_for", "client_ip", "record_access"]

PORTAL_TENANT = "_portal"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=~-]{0,199}$")


def client_ip(request) -> str | None:
    """The peer address as the server saw it (never a client-sent header)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


# Django usernames are letters, digits and @.+-_; ":" never occurs in them,
# so "user:<name>" cannot be forged by a username that looks like another kind
# of actor ("key:…", "command:…", "anonymous").
_USERNAME = re.compile(r"^[A-Za-z0-9@.+_-]{1,150}$")


def actor_id_for(user) -> str:
    """The stable actor id of a person (``user:<username>``, else ``userid:<pk>``)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return "anonymous"
    name = user.get_username()
    return f"user:{name}" if _USERNAME.match(name) else f"userid:{user.pk}"


def record_access(
    kind: str,
    *,
    user=None,
    request=None,
    target: dict | None = None,
    details: dict | None = None,
    actor: str | None = None,
    actor_type: str = "user",
    break_glass: bool = False,
    pii: list[str] | None = None,
) -> str:
    """Append one access-audit event (``kind`` is its event type); return its id.

    The actor is ``user`` (a person) or, for anything else, an explicit
    ``actor`` id such as ``key:<key_id>`` or ``command:import_access``.
    """
    actor_id = actor if actor is not None else actor_id_for(user)
    if not _ID.match(actor_id):
        raise ValueError(f"actor id {actor_id!r} is not a valid identifier")
    payload = {"target": target or {}, "details": details or {}, "break_glass": break_glass}
    agent = (request.META.get("HTTP_USER_AGENT", "") if request is not None else "")[:512]
    agent = "".join(ch for ch in agent if ch >= " " and ch != "\x7f") or None
    event = EventIn(
        event_id=uuid.uuid4(),
        tenant=PORTAL_TENANT,
        aggregate_type="User",
        aggregate_id=actor_id,
        event_type=kind,
        occurred_at=timezone.now(),
        actor=ActorIn(id=actor_id, type=actor_type, ip=client_ip(request), user_agent=agent),
        classification="confidential",
        pii=pii or [],
        payload=payload,
    )
    (result,) = get_event_store().append([event])
    return result.event_id
