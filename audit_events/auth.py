"""Bearer authentication of publishers by their keys."""

from ninja.security import HttpBearer

from .models import PublisherKey

__all__ = ["PublisherKeyAuth", "authenticate_publisher"]


def authenticate_publisher(token: str) -> PublisherKey | None:
    """The active key whose secret is ``token``, or ``None``."""
    return PublisherKey.authenticate(token)


class PublisherKeyAuth(HttpBearer):
    """``Authorization: Bearer <publisher key>``."""

    openapi_scheme = "bearer"

    def authenticate(self, request, token):
        return authenticate_publisher(token)
