import pytest


def test_descriptor_shape(client, settings):
    settings.APP_BASE_URL = "https://deskbridge.example.com"
    settings.ATLASSIAN_APP_KEY = "com.example.deskbridge"
    response = client.get("/atlassian-connect.json")
    assert response.status_code == 200
    d = response.json()
    assert d["key"] == "com.example.deskbridge"
    assert d["baseUrl"] == "https://deskbridge.example.com"
    assert d["authentication"] == {"type": "jwt"}
    assert d["lifecycle"] == {
        "installed": "/connect/installed",
        "uninstalled": "/connect/uninstalled",
        "enabled": "/connect/enabled",
        "disabled": "/connect/disabled",
    }
    assert d["apiMigrations"] == {"context-qsh": True, "signed-install": True, "gdpr": True}
    assert d["enableLicensing"] is True
    assert {"READ", "WRITE"} <= set(d["scopes"])
    assert isinstance(d["modules"], dict)


def test_descriptor_contributors_register_modules(client, settings):
    settings.DESCRIPTOR_CONTRIBUTORS = ["tests.tenants.test_descriptor.sample_contributor"]
    d = client.get("/atlassian-connect.json").json()
    assert d["modules"]["webhooks"] == [{"event": "jira:issue_updated", "url": "/hooks", "excludeBody": False}]
    assert "ACT_AS_USER" in d["scopes"]


def sample_contributor():
    return {
        "modules": {"webhooks": [{"event": "jira:issue_updated", "url": "/hooks", "excludeBody": False}]},
        "scopes": ["ACT_AS_USER"],
    }


@pytest.mark.django_db
def test_lifecycle_urls_in_descriptor_resolve_to_callbacks(client):
    d = client.get("/atlassian-connect.json").json()
    for url in d["lifecycle"].values():
        assert client.post(url, data="{}", content_type="application/json").status_code == 401


def test_the_auto_create_tag_is_declared_searchable(client):
    """Jira indexes only declared issue properties: without this, the lookup that prevents a second issue
    after a crash (issue.property[deskbridge.source].key = …) would find nothing."""
    from sync.descriptor import SOURCE_PROPERTY

    d = client.get("/atlassian-connect.json").json()
    (index,) = d["modules"]["jiraEntityProperties"]
    assert index["entityType"] == "issue"
    (config,) = index["keyConfigurations"]
    assert config["propertyKey"] == SOURCE_PROPERTY
    assert {"objectName": "key", "type": "string", "alias": "deskbridgeSource"} in config["extractions"]
