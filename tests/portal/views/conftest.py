"""A signed-in staff person with the auditor policies, for the audit views' tests."""

import pytest


@pytest.fixture
def person(make_person, client):
    """Sign in a staff person with the auditor policies over ``tenants``."""

    def sign_in(username, **attributes):
        user = make_person(username, **attributes)
        user.is_staff = True
        user.save(update_fields=["is_staff"])
        client.force_login(user)
        return user

    return sign_in
