"""The OpenSearch index template and ISM policy documents are well formed."""

from audit_events.search.opensearch import index_template, ism_policy


def test_template_maps_every_document_field_explicitly():
    from audit_events.models import SearchDocument

    properties = index_template("audit-events")["template"]["mappings"]["properties"]
    assert set(properties) == {f.name for f in SearchDocument._meta.concrete_fields} - {"ip_hex"}
    assert properties["ip"]["type"] == "ip" and properties["tenant"]["type"] == "keyword"
    assert properties["text"]["type"] == "text" and properties["occurred_at"]["type"] == "date"
    assert index_template("audit-events")["template"]["mappings"]["dynamic"] == "strict"


def test_ism_policy_states_and_retention(settings):
    settings.AUDIT_SEARCH_RETENTION_DAYS = 400
    policy = ism_policy("audit-events")["policy"]
    names = {state["name"] for state in policy["states"]}
    assert policy["default_state"] in names
    for state in policy["states"]:
        for transition in state["transitions"]:
            assert transition["state_name"] in names
    (hot,) = [s for s in policy["states"] if s["name"] == "hot"]
    assert hot["transitions"][0]["conditions"]["min_index_age"] == "400d"
    assert policy["ism_template"][0]["index_patterns"] == ["audit-events-*"]
