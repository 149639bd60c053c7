"""Bearer authentication for read endpoints: publisher keys or personal tokens."""

from ninja.security import HttpBearer, django_auth

from audit_events.models import PublisherKey

from .models import UserToken

__all__ = ["ReaderBearer", "READ_AUTH"]


class ReaderBearer(HttpBearer):
    """``Authorization: Bearer ak_…`` (a publisher) or ``ut_…`` (a person's token)."""

    openapi_scheme = "bearer"

    def authenticate(self, request, token):
        if token.startswith(PublisherKey.PREFIX + "_"):
            return PublisherKey.authenticate(token)
        if token.startswith(UserToken.PREFIX + "_"):
            found = UserToken.authenticate(token)
            if found is not None and found.user.is_active:
                return found.user
        return None


# Bearer first; a signed-in browser session also reads (GET only: no CSRF exposure).
READ_AUTH = [ReaderBearer(), django_auth]
