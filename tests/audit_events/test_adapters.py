"""One setting chooses each port's adapter."""


def test_an_unknown_adapter_name_stops_with_the_setting_named(settings):
    import pytest
    from django.core.exceptions import ImproperlyConfigured

    from audit_events.adapters import adapter_from_setting

    settings.AUDIT_STORE = "cassandra"
    with pytest.raises(ImproperlyConfigured, match="AUDIT_STORE='cassandra' is not known; use one of: sql"):
        adapter_from_setting("AUDIT_STORE", {"sql": "audit_events.store.sql.SQLEventStore"})
