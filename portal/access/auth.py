"""Bearer authentication for read endpoints: publisher keys or personal tokens."""

from ninja.security import HttpBearer, SessionAuth

from audit_events.models import PublisherKey

from .models import UserToken

__all__ = ["PERSON_AUTH", "READ_AUTH", "PersonBearer", "ReaderBearer", "VerifiedSession", "session_auth"]


def person_from_token(request, token: str):
    """The active user whose personal token this is, or ``None``."""
    found = UserToken.authenticate(token)
    if found is None or not found.user.is_active:
        return None
    request.token_key_id = found.key_id  # names the token in the access audit
    return found.user


class ReaderBearer(HttpBearer):
    """``Authorization: Bearer ak_…`` (a publisher) or ``ut_…`` (a person's token)."""

    openapi_scheme = "bearer"

    def authenticate(self, request, token):
        if token.startswith(PublisherKey.PREFIX + "_"):
            return PublisherKey.authenticate(token)
        if token.startswith(UserToken.PREFIX + "_"):
            return person_from_token(request, token)
        return None


class VerifiedSession(SessionAuth):
    """A signed-in browser session; with TOTP required, staff sessions must be verified.

    The admin refuses unverified staff sessions; the API must not be the way round it.
    """

    def authenticate(self, request, key):
        from .signin import totp_required

        user = super().authenticate(request, key)
        if user and totp_required() and user.is_staff:
            verified = getattr(user, "is_verified", None)  # fail closed without OTPMiddleware
            if not (verified and verified()):
                return None
        return user


session_auth = VerifiedSession()

# Bearer first; a signed-in browser session also reads (SessionAuth checks CSRF on writes).
READ_AUTH = [ReaderBearer(), session_auth]


class PersonBearer(HttpBearer):
    """A personal API token only: publisher keys have no say here."""

    openapi_scheme = "bearer"

    def authenticate(self, request, token):
        return person_from_token(request, token)


# People only: a personal token or a browser session.
PERSON_AUTH = [PersonBearer(), session_auth]
