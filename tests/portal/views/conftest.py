"""The audit views' tests sign people in with ``signed_in_staff`` (tests/conftest.py)."""

import pytest


@pytest.fixture
def person(signed_in_staff):
    """Sign in a staff person with the auditor policies over ``tenants``."""
    return signed_in_staff
