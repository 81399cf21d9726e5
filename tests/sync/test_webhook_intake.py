"""The webhook endpoint: JWT-verified, stored once per delivery id, answered 204 with no outbound call;
bad bodies are a 400 with a reason; events for issues we do not sync are dropped without being stored."""

from __future__ import annotations

import json

import pytest

from connector.models import ConnectedItem
from sync.descriptor import modules
from sync.inbox import WEBHOOK_EVENTS
from sync.models import WebhookEvent
from tests.panel.links_helpers import make_item, raw_link

pytestmark = pytest.mark.django_db

URL = "/jira/webhook"


@pytest.fixture
def two_way(tenant, connection, project, jira, zendesk):
    item = make_item(tenant, connection, name="Two-way", mode=ConnectedItem.Mode.TWO_WAY, jira_issue_type_id="10001")
    issue = jira.add_issue(key="SUP-1", summary="linked")
    link = raw_link(tenant, item, issue["id"], "77")
    return {"item": item, "issue": issue, "link": link}


def _payload(issue_id="10000", event="jira:issue_updated", **extra):
    return {
        "timestamp": 1,
        "webhookEvent": event,
        "issue_event_type_name": "issue_updated",
        "user": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "accountType": "atlassian"},
        "issue": {"id": issue_id, "key": "SUP-1", "fields": {"updated": "2026-11-21T10:00:00.000+0000"}},
        "changelog": {"items": [{"field": "priority", "fieldId": "priority", "toString": "High"}]},
        **extra,
    }


def _post(client, jira, body, *, delivery="d-1", token=None, raw=None):
    headers = {"HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER": delivery} if delivery else {}
    auth = token if token is not None else jira.sign("POST", URL, account_id=None)
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {auth}", **headers)


def test_descriptor_subscribes_every_event_to_the_endpoint():
    hooks = modules()["modules"]["webhooks"]
    assert {h["event"] for h in hooks} == set(WEBHOOK_EVENTS)
    assert {"jira:issue_updated", "jira:issue_deleted", "comment_created", "comment_updated", "attachment_created"} <= {
        h["event"] for h in hooks
    }
    assert all(h["url"] == URL and h["excludeBody"] is False for h in hooks)


def test_a_delivery_for_a_linked_issue_is_stored_once_and_answered_without_calls(
    client, jira, zendesk, two_way, django_capture_on_commit_callbacks
):
    jira_before, zendesk_before = len(jira.requests), len(zendesk.requests)
    issue_id = two_way["issue"]["id"]
    with django_capture_on_commit_callbacks() as queued:
        first = _post(client, jira, _payload(issue_id))
    assert first.status_code == 204 and first["X-Deskbridge-Intake"] == "stored"
    assert len(queued) == 1  # the issue's task is enqueued after the commit
    again = _post(client, jira, _payload(issue_id))  # Jira redelivers with the same identifier
    assert again.status_code == 204 and again["X-Deskbridge-Intake"] == "duplicate"
    event = WebhookEvent.objects.get()
    assert (event.issue_id, event.event_type, event.status) == (issue_id, "jira:issue_updated", "pending")
    assert event.actor_account_id == "5b10ac8d82e05b22cc7d4ef5"
    assert len(jira.requests) == jira_before and len(zendesk.requests) == zendesk_before


def test_an_event_for_an_issue_we_do_not_sync_is_dropped_unstored(client, jira, two_way, tenant, connection):
    assert _post(client, jira, _payload("99999"))["X-Deskbridge-Intake"] == "dropped"
    # A one-way link does not take Jira changes either.
    one_way = make_item(tenant, connection, name="One-way", mode=ConnectedItem.Mode.ONE_WAY, jira_issue_type_id="10001")
    other = jira.add_issue(key="SUP-2", summary="one-way")
    raw_link(tenant, one_way, other["id"], "78")
    assert _post(client, jira, _payload(other["id"]), delivery="d-2")["X-Deskbridge-Intake"] == "dropped"
    assert not WebhookEvent.objects.exists()


def test_a_deletion_is_kept_for_any_link(client, jira, tenant, connection, project):
    display = make_item(tenant, connection, name="Display", mode=ConnectedItem.Mode.DISPLAY)
    issue = jira.add_issue(key="SUP-3", summary="shown")
    raw_link(tenant, display, issue["id"], "79")
    response = _post(client, jira, _payload(issue["id"], event="jira:issue_deleted"))
    assert response["X-Deskbridge-Intake"] == "stored"


def test_a_stopped_link_takes_no_more_events(client, jira, two_way):
    from django.utils import timezone

    two_way["link"].sync_stopped_at = timezone.now()
    two_way["link"].save()
    assert _post(client, jira, _payload(two_way["issue"]["id"]))["X-Deskbridge-Intake"] == "dropped"


def test_malformed_json_is_a_400_with_a_reason_and_stores_nothing(client, jira, two_way):
    response = _post(client, jira, None, raw="{not json")
    assert response.status_code == 400 and response.json()["code"] == "webhook_invalid"
    assert "not valid JSON" in response.json()["message"]
    assert _post(client, jira, None, raw="[1, 2]").status_code == 400
    assert not WebhookEvent.objects.exists()


def test_an_unknown_event_is_a_400_and_kept_for_inspection(client, jira, two_way):
    response = _post(client, jira, _payload(two_way["issue"]["id"], event="jira:worklog_updated"))
    assert response.status_code == 400 and response.json()["code"] == "webhook_event_unknown"
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.REJECTED and event.event_type == "jira:worklog_updated"


def test_a_missing_delivery_id_is_a_400(client, jira, two_way):
    response = _post(client, jira, _payload(two_way["issue"]["id"]), delivery=None)
    assert response.status_code == 400 and "X-Atlassian-Webhook-Identifier" in response.json()["message"]


def test_a_non_numeric_issue_id_is_a_400(client, jira, two_way):
    assert _post(client, jira, _payload("SUP-1")).status_code == 400


def test_an_attachment_event_without_its_issue_is_acknowledged_and_dropped(client, jira, two_way):
    body = {"webhookEvent": "attachment_created", "attachment": {"id": "10500", "filename": "a.txt"}}
    response = _post(client, jira, body)
    assert response.status_code == 204 and response["X-Deskbridge-Intake"] == "dropped"
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "token_kind",
    ["bad_signature", "context_qsh", "wrong_qsh", "unknown_site", "none"],
)
def test_a_delivery_without_a_valid_jwt_is_refused_and_stores_nothing(client, jira, two_way, token_kind):
    tokens = {
        "bad_signature": jira.sign("POST", URL, account_id=None, secret="x" * 40),
        "context_qsh": jira.sign("POST", URL, account_id=None, qsh="context-qsh"),
        "wrong_qsh": jira.sign("POST", "/jira/other", account_id=None),
        "unknown_site": jira.sign("POST", URL, account_id=None, iss="another-site"),
        "none": "",
    }
    response = _post(client, jira, _payload(two_way["issue"]["id"]), token=tokens[token_kind])
    assert response.status_code in (400, 401)
    assert not WebhookEvent.objects.exists()


def test_a_disabled_site_is_refused(client, jira, two_way, tenant):
    tenant.state = tenant.State.DISABLED
    tenant.save()
    response = _post(client, jira, _payload(two_way["issue"]["id"]))
    assert response.status_code == 403 and not WebhookEvent.objects.exists()


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


def test_the_endpoint_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", data={"format": "json"}).json()
    operation = schema["paths"]["/jira/webhook"]["post"]
    assert set(operation["responses"]) == {"204", "400", "401", "403"}
    assert {p["name"] for p in operation["parameters"]} >= {"X-Atlassian-Webhook-Identifier", "Authorization"}
    assert "runs" in schema["paths"]["/api/v1/runs"]["get"]["operationId"] or schema["paths"]["/api/v1/runs"]
