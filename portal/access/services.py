"""Writes of access data: tokens and (audited) changes."""

from django.contrib.auth import get_user_model

from .models import UserToken

__all__ = ["user_token_create"]


def user_token_create(*, user, name: str) -> tuple[UserToken, str]:
    """Issue a personal API token for ``user``; return it and its secret (shown once)."""
    token = UserToken(user=user, name=name)
    secret = token.issue_secret()
    token.save()
    return token, secret


def user_by_username(username: str):
    return get_user_model().objects.filter(username=username).first()
