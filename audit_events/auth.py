"""Bearer authentication of publishers by their keys."""

from django.utils import timezone
from ninja.security import HttpBearer

from .models import PublisherKey

__all__ = ["PublisherKeyAuth", "authenticate_publisher"]


def authenticate_publisher(token: str) -> PublisherKey | None:
    """The active key whose secret is ``token``, or ``None``."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PublisherKey.PREFIX:
        return None
    key = PublisherKey.objects.filter(key_id=parts[1], revoked_at__isnull=True).first()
    if key is None or not key.matches(token):
        return None
    now = timezone.now()
    # One write a minute at most: the timestamp is for admins, not for auditing.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        PublisherKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


class PublisherKeyAuth(HttpBearer):
    """``Authorization: Bearer <publisher key>``."""

    openapi_scheme = "bearer"

    def authenticate(self, request, token):
        return authenticate_publisher(token)
