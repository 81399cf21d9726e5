"""The Deskbridge admin page inside Jira, driven like a browser: loaded with a qsh-bound JWT, then every
form posted with the page session the previous response rendered."""

from __future__ import annotations

import re
import socket
from datetime import UTC

import pytest

from connector.models import ConnectedItem, HelpdeskConnection
from connector.providers.zendesk import ZendeskProvider
from tenants.models import ApiToken
from tests.conftest import ADMIN_ACCOUNT, USER_ACCOUNT, ZD_EMAIL, ZD_SUBDOMAIN, ZD_TOKEN
from tests.panel.conftest import (
    AdminPage,
    checked,
    error_codes,
    field_errors,
    form_data,
    input_value,
    page_text,
    selected,
)

pytestmark = pytest.mark.django_db


def has_testid(response, name: str) -> bool:
    return f'data-testid="{name}"' in response.content.decode()


@pytest.fixture
def connected(admin_page, zendesk):
    admin_page.open()
    response = admin_page.connect()
    assert response.status_code == 200 and has_testid(response, "connection-summary"), page_text(response)
    return admin_page


# --- access ----------------------------------------------------------------------------------------------


def test_non_admin_sees_the_admins_only_page(client, jira, tenant, project):
    response = AdminPage(client, jira, account_id=USER_ACCOUNT).open()
    assert response.status_code == 403
    assert has_testid(response, "admin-denied")
    assert "Only Jira administrators can configure Deskbridge" in page_text(response)
    assert not has_testid(response, "connect-form") and 'name="session"' not in response.content.decode()


def test_non_admin_page_session_cannot_post(client, jira, tenant, project, zendesk):
    """A session issued to a non-admin (it loaded the page and got the denial) cannot drive the forms."""
    from tenants.auth import JiraPrincipal, page_session_issue

    session = page_session_issue(JiraPrincipal(tenant, USER_ACCOUNT))
    response = client.post(
        "/jira/admin",
        {"session": session, "action": "connect", "subdomain": ZD_SUBDOMAIN, "email": ZD_EMAIL, "api_token": ZD_TOKEN},
    )
    assert response.status_code == 403 and has_testid(response, "admin-denied")
    assert not HelpdeskConnection.objects.exists()


def test_page_without_jwt_is_refused(client, tenant):
    response = client.get("/jira/admin?lic=active")
    assert response.status_code == 401
    assert "could not verify this request" in page_text(response)


def test_forged_session_is_refused(admin_page, zendesk):
    admin_page.open()
    admin_page.session = admin_page.session[:-1] + ("B" if admin_page.session.endswith("A") else "A")
    response = admin_page.connect()
    assert response.status_code == 401 and "session_invalid" in page_text(response)
    assert not HelpdeskConnection.objects.exists()


def test_unknown_action_says_reload(admin_page):
    admin_page.open()
    response = admin_page.post("frobnicate")
    assert response.status_code == 400 and "Unknown action 'frobnicate'" in page_text(response)


# --- connecting --------------------------------------------------------------------------------------------


def test_disconnected_page_shows_the_connect_form(admin_page, jira):
    response = admin_page.open()
    assert response.status_code == 200
    assert has_testid(response, "connect-form")
    assert not has_testid(response, "connection-summary") and not has_testid(response, "items")
    for field in ("subdomain", "email", "api_token"):
        assert field_errors(response, field) == []
    assert response["Content-Security-Policy"] == f"frame-ancestors 'self' {jira.url}"


def test_connect_shows_the_connection_summary(admin_page, zendesk, tenant):
    admin_page.open()
    response = admin_page.connect()
    assert response.status_code == 200
    agent = next(u for u in zendesk.accounts[ZD_SUBDOMAIN].users.values() if u["email"] == ZD_EMAIL)
    text = page_text(response)
    assert "Connected to Zendesk as Ada Agent." in text
    assert 'data-testid="summary-subdomain">acme<' in response.content.decode()
    assert f"Ada Agent <{ZD_EMAIL}> (id {agent['id']}, agent)" in text
    assert "Email and API token — token stored securely" in text
    assert "Revoke" in text and not has_testid(response, "connect-form")
    assert ZD_TOKEN not in response.content.decode() and tenant.shared_secret not in response.content.decode()

    reloaded = admin_page.open()  # the summary is what the page shows from now on
    assert has_testid(reloaded, "connection-summary") and ZD_TOKEN not in reloaded.content.decode()


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _end_user(zendesk, settings):
    zendesk.add_user(ZD_SUBDOMAIN, name="Carl Customer", email="carl@acme.test", role="end-user")


def _unreachable(zendesk, settings):
    settings.ZENDESK_URL_TEMPLATE = f"http://127.0.0.1:{_closed_port()}/zd/{{subdomain}}"


# case: (setup, form override, HTTP status, words in the message, {field: words in its field error})
CONNECT_ERRORS = {
    "wrong_token": (
        None,
        {"api_token": "not-the-token"},
        400,
        "Zendesk did not accept these credentials",
        {"api_token": "did not accept"},
    ),
    "end_user": (_end_user, {"email": "carl@acme.test"}, 400, "is a Zendesk end-user, not an agent", {"email": "not"}),
    "no_such_account": (
        None,
        {"subdomain": "nosuchco"},
        400,
        "No Zendesk account answers at",
        {"subdomain": "No Zendesk account"},
    ),
    "bad_subdomain": (
        None,
        {"subdomain": "acme_co!"},
        400,
        "Enter your Zendesk subdomain",
        {"subdomain": "part before .zendesk.com"},
    ),
    "missing_credentials": (
        None,
        {"email": "", "api_token": ""},
        400,
        "Enter the agent email and an API token.",
        {"email": "sign-in email", "api_token": "Enter an API token"},
    ),
    "rate_limited": (
        lambda z, s: z.rate_limit_next(1, retry_after=30),
        {},
        429,
        "Try again in 30 seconds",
        {},
    ),
    "unreachable": (_unreachable, {}, 502, "Could not reach", {"subdomain": "Could not reach"}),
}


@pytest.mark.parametrize("case", sorted(CONNECT_ERRORS))
def test_connect_errors_are_shown_next_to_the_fields(admin_page, zendesk, settings, case):
    setup, override, status, words, fields = CONNECT_ERRORS[case]
    admin_page.open()
    if setup:
        setup(zendesk, settings)
    response = admin_page.connect(**override)
    assert response.status_code == status
    assert has_testid(response, "error") and words in page_text(response)
    assert has_testid(response, "connect-form")  # the admin can correct and retry
    for field in ("subdomain", "email", "api_token"):
        errors = field_errors(response, field)
        if field in fields:
            assert errors and fields[field] in errors[0], (field, errors)
        else:
            assert errors == [], (field, errors)
    # what was typed is kept, except the token
    assert input_value(response, "subdomain") == override.get("subdomain", ZD_SUBDOMAIN)
    assert 'name="api_token" autocomplete="off" required>' in response.content.decode()
    assert not HelpdeskConnection.objects.exists()


# --- revoke and reconnect ----------------------------------------------------------------------------------


def test_revoke_hides_items_and_reconnect_restores_them(connected, tenant):
    _create_display_item(connected, "Customers")
    # Revoke asks first (a confirm step without script), saying what happens; nothing changes until confirmed.
    confirm = connected.submit(connected.open(), "revoke")
    assert confirm.status_code == 200 and has_testid(confirm, "confirm-page")
    assert "Revoke the Zendesk connection? Deskbridge deletes the stored credentials at once and pauses 1 item" in (
        page_text(confirm)
    )
    assert HelpdeskConnection.objects.get().status == "connected"
    cancelled = connected.submit(confirm, "home")
    assert has_testid(cancelled, "connection-summary") and HelpdeskConnection.objects.get().status == "connected"
    response = connected.submit(confirm, "revoke")
    assert response.status_code == 200
    text = page_text(response)
    assert "Disconnected. Credentials were deleted and every item is paused." in text
    assert has_testid(response, "connect-form") and "its items are paused until you reconnect" in text
    assert not has_testid(response, "items") and "Customers" not in text  # SCIs hidden while disconnected
    connection = HelpdeskConnection.objects.get()
    assert connection.status == "revoked" and connection.secret() == {}
    assert ConnectedItem.objects.get().is_paused

    response = connected.connect()
    assert has_testid(response, "connection-summary")
    assert 'data-testid="summary-status">Connected<' in response.content.decode()
    row = _item_row(response, "Customers")
    assert "(paused)" not in row
    assert not ConnectedItem.objects.get().is_paused


# --- items -------------------------------------------------------------------------------------------------


def _item_row(response, name: str) -> str:
    """The grid row of the item named ``name`` (its markup)."""
    body = response.content.decode()
    start = body.index(f'data-name="{name}"')
    return body[start : body.index("</tr>", start)]


def _create_display_item(admin_page, name, helpdesk_object="user", fields=("name", "email")):
    admin_page.post("item_new")
    admin_page.post(
        "item_step1",
        {"name": name, "mode": "display", "helpdesk_object": helpdesk_object, "jira_project": "10000"},
    )
    return admin_page.post(
        "item_save",
        {
            "name": name,
            "mode": "display",
            "helpdesk_object": helpdesk_object,
            "jira_project": "10000",
            "jira_issue_type_id": "",
            "display_fields": list(fields),
            "links_api_enabled": "on",
        },
    )


def _scope(name, mode="one_way", issue_type="10001"):
    return {
        "name": name,
        "mode": mode,
        "helpdesk_object": "ticket",
        "jira_project": "10000",
        "jira_issue_type_id": issue_type,
    }


@pytest.mark.parametrize(("helpdesk_object", "label"), [("user", "Customers"), ("organization", "Organizations")])
def test_create_display_only_item(connected, helpdesk_object, label):
    response = connected.post("item_new")
    assert "step 1 of 2" in page_text(response)
    assert selected(response, "mode") == "display"
    step2 = connected.post(
        "item_step1",
        {"name": "Who asked", "mode": "display", "helpdesk_object": helpdesk_object, "jira_project": "10000"},
    )
    assert step2.status_code == 200 and "step 2 of 2" in page_text(step2)
    assert "Field mappings" not in page_text(step2)  # display-only: fields to show, nothing to map
    assert checked(step2, "display_fields", "name") is False

    response = _create_display_item(connected, "Who asked", helpdesk_object, ("name", "tags"))
    assert response.status_code == 200
    assert "Saved Who asked." in page_text(response)
    row = _item_row(response, "Who asked")
    assert "Display only" in row and "SUP" in row and label in row and "any" in row
    item = ConnectedItem.objects.get()
    assert (item.mode, item.helpdesk_object, item.display_fields) == ("display", helpdesk_object, ["name", "tags"])
    assert f'data-item="{item.external_id}"' in response.content.decode()


def test_create_one_way_item_with_mappings_toggles_and_conditions(connected, zendesk):
    impact = zendesk.add_ticket_field(
        ZD_SUBDOMAIN, "Impact", "tagger", options=["Critical", "Major", "Minor", "Cosmetic"]
    )
    impact_id = f"custom_field:{impact['id']}"
    connected.post("item_new")
    step2 = connected.post("item_step1", _scope("Escalations"))
    assert "step 2 of 2" in page_text(step2)
    assert "Impact" in page_text(step2) and "Summary *" in page_text(step2)  # required Jira fields are starred

    response = connected.post(
        "item_save",
        {
            **_scope("Escalations"),
            "display_fields": ["subject", "status"],
            "mapping_rows": "3",
            "m0_helpdesk": "subject",
            "m0_jira": "summary",
            "m0_direction": "to_jira",
            "m1_helpdesk": impact_id,
            "m1_jira": "customfield_10050",
            "m1_direction": "to_jira",
            "m1_values": "cosmetic=10102\n",
            "m2_helpdesk": "",
            "m2_jira": "",
            "auto_create": "on",
            "comment_sync": "on",
            "cond_tags": "vip, escalate",
            "cond_priority": "urgent",
            "links_api_enabled": "on",
        },
    )
    assert response.status_code == 200, page_text(response)
    assert "Saved Escalations." in page_text(response)
    row = _item_row(response, "Escalations")
    assert "One-way sync" in row and "Task" in row and "auto-create" in row
    # the summary names the fields (never their ids), display fields included
    assert "Subject → Summary" in row and "Impact → " in row and impact_id not in row
    assert "Shows: Subject, Status" in row
    item = ConnectedItem.objects.get()
    assert item.auto_create and item.comment_sync and not item.status_sync and not item.attachment_sync
    assert item.auto_create_baseline is not None
    assert item.auto_create_conditions == {"tags": ["vip", "escalate"], "priority": ["urgent"]}
    assert [(m.helpdesk_field, m.jira_field, m.value_map.get("cosmetic")) for m in item.mappings.all()] == [
        ("subject", "summary", None),
        (impact_id, "customfield_10050", "10102"),
    ]


def test_create_two_way_item_with_a_jira_to_helpdesk_mapping(connected):
    connected.post("item_new")
    step2 = connected.post("item_step1", _scope("Bugs both ways", mode="two_way", issue_type="10002"))
    assert "Jira → Zendesk" in page_text(step2)  # only two-way items offer Jira → helpdesk, per row
    assert '<option value="to_helpdesk"' in step2.content.decode()
    response = connected.post(
        "item_save",
        {
            **_scope("Bugs both ways", mode="two_way", issue_type="10002"),
            "mapping_rows": "2",
            "m0_helpdesk": "subject",
            "m0_jira": "summary",
            "m0_direction": "to_jira",
            "m1_helpdesk": "tags",
            "m1_jira": "labels",
            "m1_direction": "to_helpdesk",
            "status_sync": "on",
            "links_api_enabled": "on",
        },
    )
    assert "Saved Bugs both ways." in page_text(response)
    item = ConnectedItem.objects.get()
    assert item.mode == "two_way" and item.jira_issue_type_name == "Bug" and item.status_sync
    assert [m.direction for m in item.mappings.all()] == ["to_jira", "to_helpdesk"]


def test_one_way_form_offers_no_jira_to_helpdesk_direction(connected):
    connected.post("item_new")
    step2 = connected.post("item_step1", _scope("One way"))
    assert "Jira → Zendesk" not in page_text(step2) and 'value="to_helpdesk"' not in step2.content.decode()
    assert "Zendesk → Jira" in page_text(step2)


def test_standard_preset_fills_the_mapping_rows(connected, jira):
    connected.post("item_new")
    connected.post("item_step1", _scope("Preset"))
    response = connected.post("item_preset", {**_scope("Preset"), "mapping_rows": "3", "links_api_enabled": "on"})
    assert response.status_code == 200
    assert "Standard mapping applied; review and save." in page_text(response)
    rows = [(selected(response, f"m{i}_helpdesk"), selected(response, f"m{i}_jira")) for i in range(5)]
    assert rows[:4] == [
        ("subject", "summary"),
        ("description", "description"),
        ("priority", "priority"),
        ("tags", "labels"),
    ]
    assert rows[4] == (None, None)  # plus empty rows to add more
    ids = {p["name"]: p["id"] for p in jira.priorities}
    # the priority row's value map: a picker of Jira's priorities by name per Zendesk priority
    assert [input_value(response, f"m2_vk{i}") for i in range(4)] == ["low", "normal", "high", "urgent"]
    assert [selected(response, f"m2_vv{i}") for i in range(4)] == [
        ids["Low"],
        ids["Medium"],
        ids["High"],
        ids["Highest"],
    ]
    body = response.content.decode()
    assert f'<option value="{ids["Highest"]}" selected>Highest</option>' in body  # names shown, ids posted

    saved = connected.submit(response, "item_save", auto_create="on")
    assert "Saved Preset." in page_text(saved)
    item = ConnectedItem.objects.get()
    assert [m.jira_field for m in item.mappings.all()] == ["summary", "description", "priority", "labels"]
    assert item.mappings.get(jira_field="priority").value_map["urgent"] == ids["Highest"]


def test_step_one_errors_are_shown_next_to_the_fields(connected):
    connected.post("item_new")
    response = connected.post("item_step1", {"name": " ", "mode": "one_way", "helpdesk_object": "ticket"})
    assert response.status_code == 400
    assert "Complete the scope first." in page_text(response) and "step 1 of 2" in page_text(response)
    assert field_errors(response, "name") == ["Give the item a name."]
    assert field_errors(response, "jira_project") == ["Choose the Jira project."]
    assert field_errors(response, "jira_issue_type_id") == ["Synchronized items need a Jira issue type."]


def test_save_errors_are_shown_and_nothing_is_saved(connected):
    connected.post("item_new")
    connected.post("item_step1", _scope("Auto"))
    response = connected.post(
        "item_save",
        {
            **_scope("Auto"),
            "mapping_rows": "2",
            "m0_helpdesk": "description",
            "m0_jira": "description",
            "m1_helpdesk": "description",
            "m1_jira": "customfield_10070",
            "auto_create": "on",
            "links_api_enabled": "on",
        },
    )
    assert response.status_code == 400
    text = page_text(response)
    assert "step 2 of 2" in text  # the form stays, with what was entered
    assert "Description (textarea) cannot be written to Ticket count (number)." in text
    assert "Missing safe create-field coverage: Summary" in text
    assert error_codes(response) == ["incompatible_mapping", "missing_create_field_coverage"]
    # each error is shown under the mapping row it concerns
    body = response.content.decode()
    row_error = body[body.index('data-row-error="1"') : body.index("</tr>", body.index('data-row-error="1"'))]
    assert "Row 2: Description (textarea) cannot be written to Ticket count (number)." in row_error
    assert 'data-row-error="0"' not in body
    assert selected(response, "m1_jira") == "customfield_10070" and checked(response, "auto_create")
    assert not ConnectedItem.objects.exists()


def test_sync_of_customers_is_refused_on_the_page(connected):
    connected.post("item_new")
    scope = {**_scope("Customers sync"), "helpdesk_object": "user"}
    connected.post("item_step1", scope)
    response = connected.post("item_save", {**scope, "links_api_enabled": "on"})
    assert response.status_code == 400
    assert "Only tickets can be synchronized on Zendesk Support; customers are display-only." in page_text(response)
    assert not ConnectedItem.objects.exists()


def test_coverage_warning_is_shown_when_auto_create_is_off(connected):
    connected.post("item_new")
    connected.post("item_step1", _scope("Manual"))
    response = connected.post(
        "item_save",
        {**_scope("Manual"), "mapping_rows": "1", "m0_helpdesk": "description", "m0_jira": "description"},
    )
    assert response.status_code == 200 and "Saved Manual." in page_text(response)
    assert 'data-code="missing_create_field_coverage"' in response.content.decode()
    assert "Auto-create would fail until they are mapped." in page_text(response)


def test_saving_without_a_connection_says_to_connect(admin_page, zendesk):
    """A form left open in another tab: the item cannot be saved, and the page says why."""
    admin_page.open()
    response = admin_page.post("item_save", {**_scope("Stale", mode="display"), "links_api_enabled": "on"})
    assert response.status_code == 409
    assert "Zendesk is not connected. Connect it on this page" in page_text(response)
    assert has_testid(response, "connect-form") and not ConnectedItem.objects.exists()


def test_saving_after_revoke_says_to_reconnect(connected):
    connected.post("item_new")
    step2 = connected.post("item_step1", _scope("Stale"))
    connected.post("revoke", {"confirmed": "yes"})
    response = connected.submit(step2, "item_save", m0_helpdesk="subject", m0_jira="summary")
    assert response.status_code == 409
    assert "Zendesk is not connected" in page_text(response) and has_testid(response, "connect-form")
    assert not ConnectedItem.objects.exists()


def test_jira_outage_while_saving_is_shown_on_the_form(connected, jira):
    connected.post("item_new")
    step2 = connected.post("item_step1", _scope("Outage"))
    connected.post("refresh")  # forget the cached schemas
    for _ in range(3):  # the save, then the form's issue types and create fields
        jira.fail_next(503, {"errorMessages": ["Service unavailable"]}, path=r"/createmeta/")
    response = connected.submit(step2, "item_save", m0_helpdesk="subject", m0_jira="summary")
    assert response.status_code == 400
    assert "Could not load issue types of Jira project 10000" in page_text(response)
    assert "step 2 of 2" in page_text(response) and not ConnectedItem.objects.exists()


def _saved_one_way(admin_page):
    admin_page.post("item_new")
    step2 = admin_page.post("item_step1", _scope("Escalations"))
    response = admin_page.submit(
        step2,
        "item_save",
        display_fields=["subject", "status"],
        m0_helpdesk="subject",
        m0_jira="summary",
        m1_helpdesk="priority",
        m1_jira="priority",
        m1_values="urgent=2",
        auto_create="on",
        comment_sync="on",
        cond_tags="vip",
        links_api_enabled=None,  # unticked
    )
    assert "Saved Escalations." in page_text(response), page_text(response)
    return ConnectedItem.objects.get()


def test_edit_keeps_what_was_configured(connected):
    item = _saved_one_way(connected)
    assert item.links_api_enabled is False and item.mappings.get(jira_field="priority").value_map["urgent"] == "2"
    baseline = item.auto_create_baseline

    home = connected.open()
    step1 = connected.submit(home, "item_edit")
    assert "Edit Smart Connected Item — step 1 of 2" in page_text(step1)
    assert input_value(step1, "name") == "Escalations" and selected(step1, "mode") == "one_way"
    assert selected(step1, "jira_project") == "10000" and selected(step1, "jira_issue_type_id") == "10001"

    step2 = connected.submit(step1, "item_step1", name="Escalated tickets")
    # the second step shows the item as it is configured, not an empty form
    assert (selected(step2, "m0_helpdesk"), selected(step2, "m0_jira")) == ("subject", "summary")
    assert (selected(step2, "m1_helpdesk"), selected(step2, "m1_jira")) == ("priority", "priority")
    keys = [input_value(step2, f"m1_vk{i}") for i in range(4)]
    assert keys == ["low", "normal", "high", "urgent"] and selected(step2, "m1_vv3") == "2"  # the saved choice
    assert checked(step2, "display_fields", "subject") and checked(step2, "display_fields", "status")
    assert checked(step2, "auto_create") and checked(step2, "comment_sync") and not checked(step2, "status_sync")
    assert not checked(step2, "links_api_enabled")
    assert input_value(step2, "cond_tags") == "vip"

    # saving the second step as shown changes only the name
    response = connected.submit(step2, "item_save")
    assert "Saved Escalated tickets." in page_text(response)
    item.refresh_from_db()
    assert item.name == "Escalated tickets" and ConnectedItem.objects.count() == 1
    assert [m.jira_field for m in item.mappings.all()] == ["summary", "priority"]
    assert item.mappings.get(jira_field="priority").value_map["urgent"] == "2"
    assert item.display_fields == ["subject", "status"]
    assert item.auto_create and item.comment_sync and not item.links_api_enabled
    assert item.auto_create_conditions == {"tags": ["vip"]}
    assert item.auto_create_baseline == baseline  # auto-create stayed on: the baseline is kept


def test_link_automation_box_is_saved_both_ways(connected):
    connected.post("item_new")
    step2 = connected.post(
        "item_step1", {"name": "Customers", "mode": "display", "helpdesk_object": "user", "jira_project": "10000"}
    )
    assert checked(step2, "links_api_enabled")  # on by default
    connected.submit(step2, "item_save", links_api_enabled=None)
    item = ConnectedItem.objects.get()
    assert item.links_api_enabled is False

    step2 = connected.submit(connected.submit(connected.open(), "item_edit"), "item_step1")
    assert not checked(step2, "links_api_enabled")
    connected.submit(step2, "item_save", links_api_enabled="on")
    item.refresh_from_db()
    assert item.links_api_enabled is True


def test_delete_item(connected):
    _create_display_item(connected, "Customers")
    item = ConnectedItem.objects.get()
    # Delete asks first, saying how many links go with the item; nothing is deleted until confirmed.
    confirm = connected.post("item_delete", {"item_id": str(item.pk)})
    assert has_testid(confirm, "confirm-page") and ConnectedItem.objects.exists()
    assert "Delete Customers? Its 0 links to Jira issues go with it" in page_text(confirm)
    response = connected.submit(confirm, "item_delete")
    assert "Item deleted." in page_text(response)
    assert "No items yet." in page_text(response) and not ConnectedItem.objects.exists()
    again = connected.post("item_delete", {"item_id": str(item.pk)})
    assert "That item no longer exists." in page_text(again)


def test_item_of_another_tenant_cannot_be_edited_or_deleted(connected, other):
    from connector.services import ItemSpec, connected_item_save

    foreign, _ = connected_item_save(
        tenant=other.tenant,
        connection=other.connection,
        spec=ItemSpec(name="Beta customers", mode="display", jira_project="OPS", helpdesk_object="user"),
    )
    edit = connected.post("item_edit", {"item_id": str(foreign.pk)})
    assert edit.status_code == 404 and "That item no longer exists." in page_text(edit)
    assert "Beta customers" not in page_text(edit)
    connected.post("item_delete", {"item_id": str(foreign.pk), "confirmed": "yes"})
    assert ConnectedItem.objects.filter(pk=foreign.pk).exists()


# --- API tokens --------------------------------------------------------------------------------------------


def test_create_and_revoke_api_token(admin_page, client):
    admin_page.open()
    response = admin_page.post("token_create", {"token_name": "billing sync"})
    assert "Token billing sync created. Copy it now: it is shown once." in page_text(response)
    body = response.content.decode()
    token = re.search(r'data-testid="new-token"[^>]*>([^<]+)<', body).group(1)
    assert token.startswith("dbt_")
    row = ApiToken.objects.get(name="billing sync")
    assert row.created_by == ADMIN_ACCOUNT and token not in str(list(ApiToken.objects.values()))
    assert client.get("/api/v1/tokens", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200

    reloaded = admin_page.open()
    assert token not in reloaded.content.decode() and not has_testid(reloaded, "new-token")  # shown once
    assert f"{row.prefix}…" in page_text(reloaded)

    confirm = admin_page.post("token_revoke", {"token_id": str(row.pk)})
    assert has_testid(confirm, "confirm-page") and "Scripts that use it are refused from now on" in page_text(confirm)
    assert client.get("/api/v1/tokens", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    revoked = admin_page.submit(confirm, "token_revoke")
    assert "Token revoked." in page_text(revoked)
    assert "billing sync" in page_text(revoked) and "revoked" in page_text(revoked)
    assert client.get("/api/v1/tokens", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_token_name_errors_are_shown(admin_page):
    admin_page.open()
    admin_page.post("token_create", {"token_name": "ci"})
    response = admin_page.post("token_create", {"token_name": "ci"})
    assert response.status_code == 409 and "A token named 'ci' already exists" in page_text(response)
    assert ApiToken.objects.filter(name="ci").count() == 1


def test_revoking_another_tenants_token_is_refused(admin_page, other):
    from tenants.services import api_token_create

    row, _ = api_token_create(tenant=other.tenant, name="beta export", created_by="x")
    admin_page.open()
    response = admin_page.post("token_revoke", {"token_id": str(row.pk), "confirmed": "yes"})
    assert response.status_code == 404 and "No such API token." in page_text(response)
    row.refresh_from_db()
    assert row.revoked_at is None


def test_page_never_shows_secrets(connected, tenant, api_token):
    connected.post("token_create", {"token_name": "other"})
    for response in (connected.open(), connected.post("item_new"), connected.post("item_step1", _scope("S"))):
        body = response.content.decode()
        for secret in (ZD_TOKEN, tenant.shared_secret, api_token):
            assert secret not in body


@pytest.mark.parametrize("rows", ["abc", "-5", "999999999"])
def test_tampered_mapping_rows_are_bounded(rows):
    from django.http import QueryDict

    from panel.views.admin_page import MAX_MAPPING_ROWS, _form_values

    post = QueryDict(mutable=True)
    post.update({"mapping_rows": rows, "m0_helpdesk": "subject", "m0_jira": "summary"})
    values = _form_values(post)
    assert len(values["mappings"]) <= 1 <= MAX_MAPPING_ROWS


def test_auth_failed_connection_offers_reconnect_prefilled(connected, tenant, zendesk):
    from connector.models import HelpdeskConnection
    from connector.services import connection_mark_auth_failed
    from tests.conftest import ZD_EMAIL

    connection = HelpdeskConnection.objects.get(tenant=tenant)
    connection_mark_auth_failed(connection=connection, message="Zendesk rejected the stored credentials.")
    page = connected.open()
    assert has_testid(page, "connection-summary") and has_testid(page, "items")
    assert has_testid(page, "auth-failed") and "Reconnect Zendesk" in page_text(page)
    html = page.content.decode()
    assert 'value="acme"' in html and f'value="{ZD_EMAIL}"' in html
    again = connected.connect()
    assert not has_testid(again, "connect-form")
    assert HelpdeskConnection.objects.get(tenant=tenant).status == HelpdeskConnection.Status.CONNECTED


# --- Connect with Zendesk (OAuth) is the primary path --------------------------------------------------------


@pytest.fixture
def oauth_configured(settings, zendesk):
    from demo.fakes.zendesk import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    settings.ZENDESK_OAUTH_CLIENT_ID = DEFAULT_CLIENT_ID
    settings.ZENDESK_OAUTH_CLIENT_SECRET = DEFAULT_CLIENT_SECRET


def test_connect_with_zendesk_is_the_primary_form(admin_page, oauth_configured):
    body = admin_page.open().content.decode()
    assert has_testid(admin_page.open(), "oauth-form")
    assert body.index("Connect with Zendesk") < body.index("Connect with API token")
    assert '<details data-testid="token-connect">' in body  # the token form is folded away, not open
    assert "Self-hosted or internal deployment" in body


def test_without_an_oauth_client_the_token_form_is_open_and_says_why(admin_page):
    response = admin_page.open()
    assert has_testid(response, "oauth-unavailable") and not has_testid(response, "oauth-form")
    assert "ZENDESK_OAUTH_CLIENT_ID" in page_text(response)
    assert '<details open data-testid="token-connect">' in response.content.decode()


def test_connect_with_zendesk_gives_a_link_bound_to_this_admin(admin_page, tenant, oauth_configured):
    from connector.models import OAuthState

    admin_page.open()
    response = admin_page.post("oauth_start", {"subdomain": "https://acme.zendesk.com/agent"})
    assert response.status_code == 200 and has_testid(response, "oauth-link")
    body = response.content.decode()
    assert 'action="https://deskbridge.test/connect/zendesk/oauth/start" target="_blank"' in body
    assert f'name="session" value="{admin_page.session}"' in body  # opens only with this admin's session
    attempt = OAuthState.objects.get()
    assert (attempt.tenant_id, attempt.account_id, attempt.subdomain) == (tenant.pk, ADMIN_ACCOUNT, ZD_SUBDOMAIN)


def test_a_bad_subdomain_for_oauth_is_shown_and_starts_nothing(admin_page, oauth_configured):
    from connector.models import OAuthState

    admin_page.open()
    response = admin_page.post("oauth_start", {"subdomain": "not a subdomain!"})
    assert response.status_code == 400 and "Enter the part before .zendesk.com" in page_text(response)
    assert not OAuthState.objects.exists()


# --- Jira changes that need attention (push) ----------------------------------------------------------------


def test_failed_jira_changes_and_broken_links_are_listed_and_a_failed_event_can_be_retried(
    connected, tenant, jira, zendesk, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from sync.models import Link, WebhookEvent
    from tests.panel.links_helpers import make_item, raw_link

    connection = HelpdeskConnection.objects.get(tenant=tenant)
    item = make_item(tenant, connection, name="Two-way", mode=ConnectedItem.Mode.TWO_WAY, jira_issue_type_id="10001")
    issue = jira.add_issue(key="SUP-7", summary="x")
    raw_link(tenant, item, issue["id"], "41", key="SUP-7")
    gone = raw_link(tenant, item, "99999", "42", key="SUP-9", issue_deleted_at=timezone.now())
    failed = WebhookEvent.objects.create(
        tenant=tenant,
        delivery_id="d-1",
        event_type="jira:issue_updated",
        issue_id=str(issue["id"]),
        issue_key="SUP-7",
        status=WebhookEvent.Status.FAILED,
        attempts=5,
        last_error="Zendesk answered HTTP 500",
    )
    page = connected.open()
    assert has_testid(page, "failed-events") and has_testid(page, "broken-links")
    text = page_text(page)
    assert "Zendesk answered HTTP 500" in text and "SUP-9" in text and gone.record_id in text

    with django_capture_on_commit_callbacks() as queued:
        response = connected.post("event_retry", {"event_id": str(failed.pk)})
    assert response.status_code == 200 and "Queued again" in page_text(response)
    failed.refresh_from_db()
    assert failed.status == WebhookEvent.Status.PENDING and failed.attempts == 0 and len(queued) == 1
    assert not has_testid(response, "failed-events")
    # Retrying an event that is not failed (or another site's) is refused with words.
    again = connected.post("event_retry", {"event_id": str(failed.pk)})
    assert again.status_code == 404 and "not a failed event" in page_text(again)
    assert Link.objects.filter(issue_deleted_at__isnull=False).count() == 1


# --- the item dialog: per-object modes, name clash, Back, value pickers, warnings ---------------------------


def _reload(admin_page, response, form_action: str, action: str, **changes):
    """What the page's script posts when a choice reloads the dialog: the form (the one with ``form_action``)
    as it stands, with ``action`` in place of a button."""
    data = {**form_data(response, form_action), **changes}
    data.pop("session", None)
    return admin_page.post(action, data)


def test_step_one_offers_only_the_modes_the_object_supports(connected):
    step1 = connected.post("item_new")
    body = step1.content.decode()
    modes = re.search(r'<select id="mode" name="mode"[^>]*>(.*?)</select>', body, re.S).group(1)
    assert re.findall(r'<option value="([^"]+)"', modes) == ["display", "one_way", "two_way"]  # tickets
    assert "Customers and Organizations can be shown in the panel, not synchronized." in page_text(step1)

    # choosing customers (the object select reloads step 1) leaves display only
    customers = _reload(connected, step1, "item_step1", "item_reload", helpdesk_object="user", name="People")
    body = customers.content.decode()
    modes = re.search(r'<select id="mode" name="mode"[^>]*>(.*?)</select>', body, re.S).group(1)
    assert re.findall(r'<option value="([^"]+)"', modes) == ["display"]
    assert input_value(customers, "name") == "People"  # what was typed is kept

    # a synchronized mode posted anyway (a stale form) is refused on step 1, next to the mode
    refused = connected.post(
        "item_step1", {"name": "People", "mode": "one_way", "helpdesk_object": "organization", "jira_project": "10000"}
    )
    assert refused.status_code == 400 and "step 1 of 2" in page_text(refused)
    assert field_errors(refused, "mode") == ["Organizations are display-only on Zendesk Support: choose Display only."]


def test_a_name_clash_is_reported_on_step_one(connected):
    _create_display_item(connected, "Customers")
    connected.post("item_new")
    response = connected.post(
        "item_step1", {"name": " Customers ", "mode": "display", "helpdesk_object": "user", "jira_project": "10000"}
    )
    assert response.status_code == 400 and "step 1 of 2" in page_text(response)
    assert field_errors(response, "name") == ["Another item is already named 'Customers'; choose another name."]
    assert 'aria-invalid="true"' in response.content.decode()
    # editing the item itself keeps its name without a clash
    step1 = connected.submit(connected.open(), "item_edit")
    assert "step 2 of 2" in page_text(connected.submit(step1, "item_step1"))


def test_back_returns_to_step_one_keeping_both_steps(connected):
    connected.post("item_new")
    step2 = connected.post("item_step1", _scope("Escalations"))
    back = connected.submit(
        step2, "item_back", m0_helpdesk="subject", m0_jira="summary", comment_sync="on", cond_tags="vip"
    )
    assert back.status_code == 200 and "step 1 of 2" in page_text(back)
    assert input_value(back, "name") == "Escalations" and selected(back, "jira_issue_type_id") == "10001"
    again = connected.submit(back, "item_step1", name="Escalated")
    assert "step 2 of 2" in page_text(again)
    assert (selected(again, "m0_helpdesk"), selected(again, "m0_jira")) == ("subject", "summary")
    assert checked(again, "comment_sync") and input_value(again, "cond_tags") == "vip"
    assert 'data-testid="back"' in again.content.decode()


def test_value_maps_are_pickers_of_jira_values_by_name_prefilled_by_name(connected, zendesk):
    impact = zendesk.add_ticket_field(ZD_SUBDOMAIN, "Impact", "tagger", options=["Critical", "Minor", "Cosmetic"])
    connected.post("item_new")
    step2 = connected.post("item_step1", _scope("Impact"))
    # choosing both fields of a row (the page reloads step 2) lists the value pickers
    reloaded = _reload(
        connected,
        step2,
        "item_save",
        "item_status_reload",
        m0_helpdesk=f"custom_field:{impact['id']}",
        m0_jira="customfield_10050",
    )
    body = reloaded.content.decode()
    labels = re.findall(r'<label for="m0_vv\d+"[^>]*>([^<]+)</label>', body)
    assert labels == ["Critical", "Minor", "Cosmetic"]
    # pre-filled by name; no match stays unmapped; options show Jira's names
    assert [selected(reloaded, f"m0_vv{i}") for i in range(3)] == ["10100", "10102", None]
    assert '<option value="10101" >Major</option>' in body or '<option value="10101">Major</option>' in body
    response = connected.submit(reloaded, "item_save", m0_vv2="10102", m1_helpdesk="subject", m1_jira="summary")
    assert "Saved Impact." in page_text(response), page_text(response)
    mapping = ConnectedItem.objects.get().mappings.get(jira_field="customfield_10050")
    assert mapping.value_map == {"critical": "10100", "minor": "10102", "cosmetic": "10102"}


def test_conditions_are_pickers_of_zendesk_values_with_readable_labels(connected):
    connected.post("item_new")
    step2 = connected.post("item_step1", _scope("Urgent"))
    body = step2.content.decode()
    assert 'data-condition="priority"><legend class="meta">Priorities</legend>' in body
    assert re.findall(r'name="cond_priority" value="([^"]*)"', body) == ["low", "normal", "high", "urgent"]
    # an account without ticket forms (a plan without them) says so instead of an empty picker
    assert "Zendesk has no ticket forms to choose from." in page_text(step2) and 'name="cond_form"' not in body
    response = connected.submit(
        step2, "item_save", m0_helpdesk="subject", m0_jira="summary", auto_create="on", cond_priority=["high", "urgent"]
    )
    assert "Saved Urgent." in page_text(response), page_text(response)
    assert ConnectedItem.objects.get().auto_create_conditions == {"priority": ["high", "urgent"]}


def condition_choices(response, key: str) -> list[tuple[str, str, bool]]:
    """The picker of condition ``key``: (value, label, ticked) per box, in order."""
    body = response.content.decode()
    match = re.search(rf'data-condition="{key}">(.*?)</fieldset>', body, re.S)
    assert match, f"no picker for condition {key!r}"
    boxes = re.findall(
        r'<input type="checkbox" name="cond_\w+" value="([^"]*)" ([^>]*)> ([^<]*)</label>', match.group(1)
    )
    return [(value, label.strip(), "checked" in attrs) for value, attrs, label in boxes]


@pytest.fixture
def sorted_tickets(zendesk):
    """Groups, brands, a ticket form and tagged tickets in the Zendesk account, by name."""
    names = {
        "billing": zendesk.add_group(ZD_SUBDOMAIN, "Billing")["id"],
        "retired": zendesk.add_group(ZD_SUBDOMAIN, "Retired")["id"],
        "outdoor": zendesk.add_brand(ZD_SUBDOMAIN, "Acme Outdoor")["id"],
        "refunds": zendesk.add_ticket_form(ZD_SUBDOMAIN, "Refunds")["id"],
        "legacy": zendesk.add_ticket_form(ZD_SUBDOMAIN, "Legacy", active=False)["id"],
    }
    zendesk.delete_group(ZD_SUBDOMAIN, names["retired"])
    account = zendesk.accounts[ZD_SUBDOMAIN]
    names["support"] = next(g["id"] for g in account.groups.values() if g["default"])
    names["acme"] = next(b["id"] for b in account.brands.values() if b["default"])
    zendesk.add_ticket(ZD_SUBDOMAIN, tags=["vip", "billing"])
    zendesk.add_ticket(ZD_SUBDOMAIN, tags=["vip"])
    return {k: str(v) for k, v in names.items()}


def test_groups_brands_forms_and_tags_are_pickers_by_name_saving_what_tickets_carry(connected, zendesk, sorted_tickets):
    ids = sorted_tickets
    connected.post("item_new")
    step2 = connected.post("item_step1", _scope("Routed"))
    body = step2.content.decode()
    assert 'data-condition="group"><legend class="meta">Groups</legend>' in body
    assert condition_choices(step2, "group") == [(ids["support"], "Support", False), (ids["billing"], "Billing", False)]
    assert condition_choices(step2, "brand") == [(ids["acme"], "Acme", False), (ids["outdoor"], "Acme Outdoor", False)]
    assert 'data-condition="form"><legend class="meta">Ticket forms</legend>' in body
    assert condition_choices(step2, "form") == [
        (ids["refunds"], "Refunds", False),
        (ids["legacy"], "Legacy (inactive)", False),
    ]
    # tags: the account's most used first, and a field for any other tag
    assert condition_choices(step2, "tags") == [("vip", "vip", False), ("billing", "billing", False)]
    assert '<label for="cond_tags_other">Other tags</label>' in body
    assert "Group ids" not in page_text(step2) and 'id="cond_group"' not in body  # no typed ids

    response = connected.submit(
        step2,
        "item_save",
        m0_helpdesk="subject",
        m0_jira="summary",
        auto_create="on",
        cond_group=[ids["billing"]],
        cond_brand=[ids["outdoor"]],
        cond_form=[ids["refunds"]],
        cond_tags=["vip", "escalate, urgent_now"],  # a ticked box and the "Other tags" field
    )
    assert "Saved Routed." in page_text(response), page_text(response)
    item = ConnectedItem.objects.get()
    assert item.auto_create_conditions == {
        "tags": ["vip", "escalate", "urgent_now"],
        "group": [ids["billing"]],
        "brand": [ids["outdoor"]],
        "form": [ids["refunds"]],
    }
    # what the engine compares: a ticket of that group, brand and form with the tag matches
    provider = ZendeskProvider()
    ticket = {"group_id": int(ids["billing"]), "brand_id": int(ids["outdoor"]), "ticket_form_id": int(ids["refunds"])}
    assert provider.matches_conditions({**ticket, "tags": ["escalate"]}, item.auto_create_conditions)
    assert not provider.matches_conditions(
        {**ticket, "group_id": int(ids["support"]), "tags": ["vip"]}, item.auto_create_conditions
    )

    # editing shows them ticked by name; typed tags the list does not hold stay, ticked
    step2 = connected.submit(connected.submit(connected.open(), "item_edit"), "item_step1")
    assert (ids["billing"], "Billing", True) in condition_choices(step2, "group")
    assert condition_choices(step2, "tags") == [
        ("vip", "vip", True),
        ("billing", "billing", False),
        ("escalate", "escalate", True),
        ("urgent_now", "urgent_now", True),
    ]
    response = connected.submit(step2, "item_save")
    assert "Saved Routed." in page_text(response), page_text(response)
    item.refresh_from_db()
    assert item.auto_create_conditions["tags"] == ["vip", "escalate", "urgent_now"]
    assert item.auto_create_conditions["group"] == [ids["billing"]]


def test_a_chosen_value_zendesk_no_longer_offers_stays_ticked(connected, zendesk, sorted_tickets):
    ids = sorted_tickets
    connected.post("item_new")
    step2 = connected.post("item_step1", _scope("Billing"))
    response = connected.submit(
        step2, "item_save", m0_helpdesk="subject", m0_jira="summary", auto_create="on", cond_group=[ids["billing"]]
    )
    assert "Saved Billing." in page_text(response), page_text(response)
    zendesk.delete_group(ZD_SUBDOMAIN, int(ids["billing"]))
    connected.post("refresh")  # Refresh-all reads the lists again

    step2 = connected.submit(connected.submit(connected.open(), "item_edit"), "item_step1")
    assert condition_choices(step2, "group") == [
        (ids["support"], "Support", False),
        (ids["billing"], f"{ids['billing']} (not in Zendesk any more)", True),
    ]
    response = connected.submit(step2, "item_save")
    assert "Saved Billing." in page_text(response), page_text(response)
    assert ConnectedItem.objects.get().auto_create_conditions == {"group": [ids["billing"]]}


def test_the_lists_are_read_once_until_refresh(connected, zendesk, sorted_tickets):
    connected.post("item_new")
    for _ in range(2):
        step2 = connected.post("item_step1", _scope("Cached"))
        assert condition_choices(step2, "group")
    assert [len(zendesk.calls("GET", rf"/api/v2/{p}\.json")) for p in ("groups", "brands", "ticket_forms", "tags")] == [
        1,
        1,
        1,
        1,
    ]
    connected.post("refresh")
    connected.post("item_new")
    connected.post("item_step1", _scope("Cached"))
    assert len(zendesk.calls("GET", r"/api/v2/groups\.json")) == 2


def test_a_list_zendesk_refuses_falls_back_to_typed_ids_with_the_reason(connected, zendesk, sorted_tickets):
    ids = sorted_tickets
    zendesk.fail_next(
        403,
        {"error": {"title": "Forbidden", "message": "You do not have access to this page."}},
        path=r"/ticket_forms",
    )
    connected.post("item_new")
    step2 = connected.post("item_step1", _scope("Forms"))
    assert step2.status_code == 200
    body = step2.content.decode()
    assert '<label for="cond_form">Ticket form ids</label><input type="text" id="cond_form"' in body
    assert 'aria-describedby="cond-hint cond_form_note"' in body
    note = re.search(r'<div class="db-warn" role="status" id="cond_form_note"[^>]*>([^<]*)</div>', body).group(1)
    assert note == (
        "Could not load Zendesk Support ticket forms: Zendesk answered HTTP 403: Forbidden: You do not have access to "
        "this page. Check the connection and use Refresh to try again. Until then, type the ticket form ids here, "
        "separated by commas."
    )
    assert condition_choices(step2, "group")  # the other lists were read
    response = connected.submit(
        step2, "item_save", m0_helpdesk="subject", m0_jira="summary", auto_create="on", cond_form=ids["refunds"]
    )
    assert "Saved Forms." in page_text(response), page_text(response)
    assert ConnectedItem.objects.get().auto_create_conditions == {"form": [ids["refunds"]]}
    # the refusal is not remembered: the next opening reads the list again
    step2 = connected.submit(connected.submit(connected.open(), "item_edit"), "item_step1")
    assert condition_choices(step2, "form")[0] == (ids["refunds"], "Refunds", True)


def test_a_display_item_without_display_fields_gets_a_warning(connected):
    connected.post("item_new")
    step2 = connected.post(
        "item_step1", {"name": "Bare", "mode": "display", "helpdesk_object": "user", "jira_project": "10000"}
    )
    assert 'data-testid="no-display-fields">' in step2.content.decode()  # shown (not hidden)
    chosen = connected.submit(connected.submit(step2, "item_back"), "item_step1", display_fields="name")
    assert 'data-testid="no-display-fields" hidden>' in chosen.content.decode()
    response = connected.submit(step2, "item_save")
    assert "Saved Bare." in page_text(response)
    assert 'data-code="no_display_fields"' in response.content.decode()
    assert "Bare shows no fields in the issue panel" in page_text(response)
    assert "Shows no fields" in _item_row(response, "Bare")


# --- the grid and the runs view -----------------------------------------------------------------------------


def test_grid_shows_state_relative_last_sync_error_with_its_run_and_the_external_id(connected, tenant):
    from datetime import timedelta

    from django.utils import timezone

    from sync.models import SyncEvent, SyncRun

    _saved_one_way(connected)
    item = ConnectedItem.objects.get()
    connection = HelpdeskConnection.objects.get(tenant=tenant)
    synced = timezone.now() - timedelta(minutes=3, seconds=5)
    run = SyncRun.objects.create(
        tenant=tenant, connection=connection, trigger="schedule", outcome="failed", reason="Zendesk answered 500."
    )
    SyncEvent.objects.create(
        tenant=tenant, run=run, item=item, action="fields", result="error", message="Ticket 41: Jira refused."
    )
    ConnectedItem.objects.filter(pk=item.pk).update(last_sync_at=synced, last_error="Jira refused the summary.")

    page = connected.open()
    row = _item_row(page, "Escalations")
    exact = synced.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f'<time datetime="{synced.astimezone(UTC).isoformat()}" title="{exact}"' in row
    assert ">3 minutes ago</time>" in row
    assert 'data-testid="item-state">Error</span>' in row
    assert "Jira refused the summary." in row and f'href="#run-{run.pk}"' in row
    assert f'<code id="external-id-{item.pk}" data-testid="external-id">{item.external_id}</code>' in row
    assert f'data-copy="external-id-{item.pk}"' in row and "Copy the external id of Escalations" in row
    assert 'data-testid="item-sync-now"' in row
    runs = page.content.decode()
    run_row = runs[runs.index(f'id="run-{run.pk}"') :]
    run_row = run_row[: run_row.index("</tr>")]
    assert ">Error</span>" in run_row and "Zendesk answered 500." in run_row and "Escalations: Ticket 41" in run_row

    ConnectedItem.objects.filter(pk=item.pk).update(last_error="", is_paused=True)
    assert 'data-testid="item-state">Paused</span>' in _item_row(connected.open(), "Escalations")


def test_the_confirm_step_of_delete_counts_the_links(connected, tenant, jira):
    from tests.panel.links_helpers import raw_link

    _create_display_item(connected, "Customers")
    item = ConnectedItem.objects.get()
    for n in (1, 2):
        raw_link(tenant, item, str(10000 + n), str(40 + n), key=f"SUP-{n}")
    home = connected.open()
    assert "Delete Customers? Its 2 links to Jira issues go with it" in _item_row(home, "Customers")  # the dialog's
    confirm = connected.submit(home, "item_delete")
    assert "Delete Customers? Its 2 links to Jira issues go with it" in page_text(confirm)
    assert ConnectedItem.objects.exists()
