"""The admin page with Zoho Desk, driven like a browser: connect with a Self Client (one organization or a
choice of several), the Zoho summary and its API credits, revoke and reconnect, and items of Zoho's modules
with their status field and status table."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from connector.models import ConnectedItem, HelpdeskConnection, Provider
from tests.conftest import ZOHO_CLIENT_ID, ZOHO_DC, ZOHO_SECRET
from tests.panel.conftest import checked, field_errors, input_value, page_text, selected

pytestmark = pytest.mark.django_db

ZOHO_MODULES = [
    "Tickets",
    "Contacts",
    "Accounts",
    "Tasks",
    "Calls",
    "Events",
    "Time entries",
    "Products",
    "Contracts",
]


def has_testid(response, name: str) -> bool:
    return f'data-testid="{name}"' in response.content.decode()


def text_of(response, name: str) -> str:
    body = response.content.decode()
    match = re.search(rf'<(\w+)[^>]*data-testid="{name}"[^>]*>(.*?)</\1>', body, flags=re.DOTALL)
    assert match, f"no element with data-testid {name!r}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(2)).split())


def options(response, name: str) -> list[tuple[str, str]]:
    body = response.content.decode()
    match = re.search(rf'<select[^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', body, flags=re.DOTALL)
    assert match, f"no select named {name!r}"
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', match.group(1))


def zoho_connect(admin_page, code: str, **override):
    return admin_page.post(
        "zoho_connect",
        {"data_center": ZOHO_DC, "client_id": ZOHO_CLIENT_ID, "client_secret": ZOHO_SECRET, "code": code, **override},
    )


@pytest.fixture
def zoho_page(admin_page, zoho, zoho_code):
    """The admin page connected to the fake's Zoho Desk organization through the Zoho form."""
    admin_page.open()
    response = zoho_connect(admin_page, zoho_code())
    assert response.status_code == 200 and has_testid(response, "connection-summary"), page_text(response)
    return admin_page


def _secrets(connection: HelpdeskConnection) -> list[str]:
    secret = connection.secret()
    return [ZOHO_SECRET, secret["access_token"], secret["refresh_token"]]


# --- connecting ----------------------------------------------------------------------------------------------


def test_disconnected_page_offers_zendesk_and_zoho_desk(admin_page):
    from connector.clients.zoho_desk import DATA_CENTERS, REQUIRED_SCOPES

    response = admin_page.open()
    assert response.status_code == 200
    assert has_testid(response, "connect-form") and has_testid(response, "zoho-connect-form")
    text = page_text(response)
    assert "Connect Zendesk" in text and "Connect Zoho Desk" in text

    data_centers = options(response, "data_center")
    assert data_centers[0] == ("", "— choose —")
    assert data_centers[1:] == [(dc.key, dc.label) for dc in DATA_CENTERS.values()] and len(data_centers) == 10
    assert ("ca", "Canada (zohocloud.ca)") in data_centers

    body = response.content.decode()
    assert re.search(r'<textarea id="zoho_scopes" readonly[^>]*>' + re.escape(REQUIRED_SCOPES) + "</textarea>", body)
    assert 'aria-label="Copy the scopes">Copy scopes</button>' in body
    assert re.search(r'<script src="/static/panel/admin_page\.js[^"]*" defer></script>', body)  # the copy script
    assert 'data-testid="copied" hidden>Copied<' in body
    assert '<input type="password" id="zoho_client_secret" name="client_secret" autocomplete="off" required>' in body
    assert '<input type="password" id="zoho_code" name="code" autocomplete="off" required>' in body
    assert 'name="action" value="zoho_connect"' in body
    # the two steps in the Zoho API console
    assert "Add Client → Self Client → Create, then open its Client Secret tab" in text
    assert "Generate Code tab, paste the scopes below, choose a time duration (e.g. 10 minutes)" in text
    assert "api-console.zohocloud.ca" in body  # the console of each data center
    for field in ("zoho_data_center", "zoho_client_id", "zoho_client_secret", "zoho_code"):
        assert field_errors(response, field) == []


def test_connect_zoho_desk_with_one_organization_shows_the_summary(zoho_page, zoho, tenant):
    connection = HelpdeskConnection.objects.get(tenant=tenant)
    assert connection.provider == Provider.ZOHO_DESK and connection.status == "connected"
    for response in (zoho_page.post("refresh"), zoho_page.open()):
        text = page_text(response)
        assert "Zoho Desk connection" in text and "Zendesk connection" not in text
        assert text_of(response, "summary-data-center") == "Europe (zoho.eu)"
        assert text_of(response, "summary-client-id") == ZOHO_CLIENT_ID
        assert text_of(response, "summary-desk-host") == zoho.desk_url("eu")
        assert text_of(response, "summary-org").startswith(f"Acme Support (id {zoho.org.id}, portal acmesupport")
        assert f"Zoe Agent <zoe@acme.test> (id {zoho.agent['id']}" in text
        assert text_of(response, "summary-status") == "Connected"
        assert "Sync now" in text and "Revoke" in text
        assert not has_testid(response, "connect-form") and not has_testid(response, "zoho-connect-form")
        for secret in _secrets(connection):
            assert secret not in response.content.decode()


def test_connect_message_names_the_organization(admin_page, zoho, zoho_code):
    admin_page.open()
    response = zoho_connect(admin_page, zoho_code())
    assert "Connected to Zoho Desk (Acme Support) as Zoe Agent." in page_text(response)
    assert ZOHO_SECRET not in response.content.decode()


def test_several_organizations_are_offered_and_the_chosen_one_is_connected(admin_page, zoho, zoho_code, tenant):
    labs = zoho.add_org(ZOHO_DC, name="Acme Labs", portal_name="acmelabs", edition="enterprise")
    zoho.add_agent(labs.id, name="Zoe Agent", email="zoe@acme.test")
    admin_page.open()
    response = zoho_connect(admin_page, zoho_code(org_id=labs.id))  # the code was generated for Acme Labs
    assert response.status_code == 200
    assert "belongs to several Zoho Desk organizations: choose the one to connect" in page_text(response)
    for page in (response, admin_page.open()):  # the choice waits across reloads
        assert has_testid(page, "zoho-org-picker") and not has_testid(page, "connection-summary")
        picker = text_of(page, "zoho-org-picker")
        assert "Acme Support — portal acmesupport (Professional edition)" in picker
        assert "Acme Labs — portal acmelabs (Enterprise edition)" in picker
        assert "Europe (zoho.eu)" in picker
        assert f'name="org_id" value="{labs.id}"' in page.content.decode()
        assert ZOHO_SECRET not in page.content.decode()
    assert HelpdeskConnection.objects.get(tenant=tenant).status != "connected"

    # the code's user is an agent of both, but the code works for the portal it was generated for only
    wrong = admin_page.post("zoho_org", {"org_id": zoho.org.id})
    assert wrong.status_code == 400 and "OAUTH_ORG_MISMATCH" in page_text(wrong)
    assert '<span class="field-error" data-field="org_id">Not an organization of this Zoho user.</span>' in (
        wrong.content.decode()
    )
    assert has_testid(wrong, "zoho-org-picker")
    nothing = admin_page.post("zoho_org", {})
    assert nothing.status_code == 400 and "Choose the Zoho Desk organization to connect." in page_text(nothing)

    response = admin_page.post("zoho_org", {"org_id": labs.id})
    assert response.status_code == 200 and has_testid(response, "connection-summary"), page_text(response)
    assert "Connected to Zoho Desk (Acme Labs) as Zoe Agent." in page_text(response)
    assert text_of(response, "summary-org").startswith(f"Acme Labs (id {labs.id}")
    assert not has_testid(response, "zoho-org-picker")
    connection = HelpdeskConnection.objects.get(tenant=tenant)
    assert connection.status == "connected" and connection.settings["org_id"] == labs.id


def _used_code(zoho, zoho_code):
    code = zoho_code()
    zoho.codes[code]["used"] = True
    return code


# case: (form override (a callable gets zoho and zoho_code), HTTP status, words in the message, {field: words})
ZOHO_ERRORS = {
    "wrong_code": ({"code": "1000.not-a-code"}, 400, "Zoho refused the code", {"zoho_code": "Expired"}),
    "used_code": (_used_code, 400, "Zoho refused the code", {"zoho_code": "already used"}),
    "wrong_secret": (
        {"client_secret": "not-the-secret"},
        400,
        "did not accept the Client Secret",
        {"zoho_client_secret": "Does not match"},
    ),
    "other_data_center": (
        {"data_center": "us"},
        400,
        "United States (zoho.com) data center does not know this Client ID",
        {"zoho_client_id": "Unknown in this data center"},
    ),
    "no_data_center": ({"data_center": ""}, 400, "Choose the data center", {"zoho_data_center": "Choose one of"}),
    "missing_fields": (
        {"client_id": "abc", "client_secret": "", "code": ""},
        400,
        "Enter the data center, the Self Client's Client ID and Client Secret",
        {"zoho_client_id": "1000.", "zoho_client_secret": "Client Secret", "zoho_code": "Generate a code"},
    ),
}


@pytest.mark.parametrize("case", sorted(ZOHO_ERRORS))
def test_zoho_connect_errors_are_shown_next_to_the_fields_and_change_nothing(admin_page, zoho, zoho_code, case):
    override, status, words, fields = ZOHO_ERRORS[case]
    admin_page.open()
    if callable(override):
        override = {"code": override(zoho, zoho_code)}
    code = override.get("code", zoho_code())
    response = zoho_connect(admin_page, code, **{k: v for k, v in override.items() if k != "code"})
    assert response.status_code == status, page_text(response)
    assert has_testid(response, "error") and words in page_text(response)
    assert has_testid(response, "zoho-connect-form") and has_testid(response, "connect-form")
    for field in ("zoho_data_center", "zoho_client_id", "zoho_client_secret", "zoho_code"):
        errors = field_errors(response, field)
        if field in fields:
            assert errors and fields[field] in errors[0], (field, errors)
        else:
            assert errors == [], (field, errors)
    # what was typed is kept, except the secret and the code
    assert input_value(response, "client_id") == override.get("client_id", ZOHO_CLIENT_ID)
    assert selected(response, "data_center") == (override.get("data_center", ZOHO_DC) or None)
    body = response.content.decode()
    assert ZOHO_SECRET not in body and (not code or code not in body)
    assert not HelpdeskConnection.objects.exists()


def test_connecting_zoho_while_zendesk_is_connected_is_refused(admin_page, zendesk, zoho, zoho_code, tenant):
    admin_page.open()
    connected = admin_page.connect()
    assert has_testid(connected, "connection-summary") and not has_testid(connected, "zoho-connect-form")
    response = zoho_connect(admin_page, zoho_code())  # a form left open in another tab
    assert response.status_code == 409
    assert "This Jira site is connected to Zendesk Support. A site works with one helpdesk at a time" in (
        page_text(response)
    )
    assert has_testid(response, "connection-summary") and "Zendesk connection" in page_text(response)
    assert list(HelpdeskConnection.objects.values_list("provider", "status")) == [("zendesk", "connected")]


# --- revoke, reconnect -----------------------------------------------------------------------------------------


def _display_item(admin_page, name, helpdesk_object="contacts", fields=("firstName", "email")):
    admin_page.post("item_new")
    admin_page.post(
        "item_step1", {"name": name, "mode": "display", "helpdesk_object": helpdesk_object, "jira_project": "10000"}
    )
    response = admin_page.post(
        "item_save",
        {
            "name": name,
            "mode": "display",
            "helpdesk_object": helpdesk_object,
            "jira_project": "10000",
            "display_fields": list(fields),
            "links_api_enabled": "on",
        },
    )
    assert f"Saved {name}." in page_text(response), page_text(response)
    return response


def _item_row(response, name: str) -> str:
    """The grid row of the item named ``name`` (its markup)."""
    body = response.content.decode()
    start = body.index(f'data-name="{name}"')
    return body[start : body.index("</tr>", start)]


def test_revoke_pauses_and_hides_items_and_reconnect_restores_them(zoho_page, zoho_code, tenant):
    response = _display_item(zoho_page, "Customers")
    assert "Contacts" in _item_row(response, "Customers")
    ConnectedItem.objects.update(last_error="Zoho refused to renew the access token (invalid_code).")

    response = zoho_page.post("revoke", {"confirmed": "yes"})
    text = page_text(response)
    assert "Disconnected. Credentials were deleted and every item is paused." in text
    assert "The Zoho Desk connection was revoked; its items are paused until you reconnect." in text
    assert has_testid(response, "zoho-connect-form") and has_testid(response, "connect-form")  # either helpdesk
    assert not has_testid(response, "items") and "Customers" not in text
    body = response.content.decode()
    assert body.index('data-testid="zoho-connect-form" id="zoho-connect" style="order:-1"') > 0  # shown first
    assert selected(response, "data_center") == ZOHO_DC and input_value(response, "client_id") == ZOHO_CLIENT_ID
    connection = HelpdeskConnection.objects.get()
    assert connection.status == "revoked" and connection.secret() == {}
    assert ConnectedItem.objects.get().is_paused

    response = zoho_connect(zoho_page, zoho_code())
    assert has_testid(response, "connection-summary") and text_of(response, "summary-status") == "Connected"
    row = _item_row(response, "Customers")
    assert "(paused)" not in row and "Zoho refused" not in row
    item = ConnectedItem.objects.get()
    assert not item.is_paused and item.last_error == ""


def test_auth_failure_offers_to_reconnect_zoho_only(zoho_page, zoho_code, tenant):
    from connector.services import connection_mark_auth_failed

    connection = HelpdeskConnection.objects.get()
    connection_mark_auth_failed(connection=connection, message="Zoho refused to renew the access token.")
    page = zoho_page.open()
    assert has_testid(page, "connection-summary") and has_testid(page, "items")
    assert has_testid(page, "auth-failed") and "Reconnect Zoho Desk" in page_text(page)
    assert "Zoho refused to renew the access token." in page_text(page)
    assert not has_testid(page, "connect-form")  # a failing Zoho connection is reconnected, not replaced
    assert input_value(page, "client_id") == ZOHO_CLIENT_ID

    again = zoho_connect(zoho_page, zoho_code())
    assert again.status_code == 200 and not has_testid(again, "zoho-connect-form")
    connection.refresh_from_db()
    assert connection.status == "connected" and connection.last_error == ""
    assert '<th>Last error</th><td class="db-error">' not in again.content.decode()


def test_items_of_a_helpdesk_the_site_left_are_hidden_and_cannot_be_edited(admin_page, zendesk, zoho, zoho_code):
    admin_page.open()
    admin_page.connect()
    admin_page.post("item_new")
    admin_page.post(
        "item_step1", {"name": "Zendesk people", "mode": "display", "helpdesk_object": "user", "jira_project": "10000"}
    )
    admin_page.post(
        "item_save",
        {"name": "Zendesk people", "mode": "display", "helpdesk_object": "user", "jira_project": "10000"},
    )
    old = ConnectedItem.objects.get(name="Zendesk people")
    admin_page.post("revoke", {"confirmed": "yes"})
    response = zoho_connect(admin_page, zoho_code())
    assert has_testid(response, "connection-summary") and "Zoho Desk connection" in page_text(response)
    response = _display_item(admin_page, "Zoho people")
    assert "Contacts" in _item_row(response, "Zoho people") and "Zendesk people" not in page_text(response)

    edit = admin_page.post("item_edit", {"item_id": str(old.pk)})
    assert edit.status_code == 409
    assert "Zendesk people belongs to the Zendesk connection, which this site no longer uses" in page_text(edit)
    save = admin_page.post(
        "item_save",
        {"item_id": str(old.pk), "name": "Taken over", "mode": "display", "helpdesk_object": "contacts"},
    )
    assert save.status_code == 409
    old.refresh_from_db()
    assert old.name == "Zendesk people" and old.connection.provider == "zendesk"


# --- items -----------------------------------------------------------------------------------------------------


def _scope(name, helpdesk_object="tickets", mode="one_way"):
    return {
        "name": name,
        "mode": mode,
        "helpdesk_object": helpdesk_object,
        "jira_project": "10000",
        "jira_issue_type_id": "10001",
    }


def test_item_form_offers_the_nine_modules_and_the_condition_labels(zoho_page):
    step1 = zoho_page.post("item_new")
    assert "step 1 of 2" in page_text(step1)
    assert [label for _, label in options(step1, "helpdesk_object")] == ZOHO_MODULES
    assert selected(step1, "helpdesk_object") == "tickets"
    assert "Zoho Desk object" in page_text(step1)

    step2 = zoho_page.post("item_step1", _scope("Escalations"))
    assert "step 2 of 2" in page_text(step2) and "Tickets" in text_of(step2, "scope")
    body = step2.content.decode()
    # conditions whose values Zoho lists are pickers of those values; the others take typed values
    assert '<label for="cond_category">Categories</label><input type="text" id="cond_category"' in body
    assert 'data-condition="departmentId"><legend class="meta">Departments</legend>' in body
    for key, label in (
        ("priority", "Priorities"),
        ("status", "Statuses"),
        ("channel", "Channels"),
        ("classification", "Classifications"),
    ):
        assert f'data-condition="{key}"><legend class="meta">{label}</legend>' in body
    assert re.findall(r'name="cond_priority" value="([^"]*)"', body) == ["High", "Medium", "Low"]
    assert 'id="cond_tags"' not in body  # Zendesk's conditions are not offered

    # the status field: the module's own by default, any pick-list field of the module may be chosen
    assert selected(step2, "status_field") == "status"
    assert ("priority", "Priority") in options(step2, "status_field")
    assert ("subject", "Subject") not in options(step2, "status_field")
    rows = re.findall(r'<tr data-status="([^"]+)">', body)
    assert rows == ["Open", "On Hold", "Escalated", "Closed"]
    assert [selected(step2, f"sm{i}_category") for i in range(4)] == [
        "indeterminate",
        "indeterminate",
        "indeterminate",
        "done",
    ]
    assert options(step2, "sm0_category") == [("new", "To Do"), ("indeterminate", "In Progress"), ("done", "Done")]


def test_departments_are_a_picker_by_name_saving_their_ids(zoho_page, zoho):
    support = zoho.default_department(zoho.org.id)["id"]
    field = zoho.add_department(zoho.org.id, "Field Service")["id"]
    zoho_page.post("item_new")
    step2 = zoho_page.post("item_step1", _scope("Field"))
    body = step2.content.decode()
    picker = re.search(r'data-condition="departmentId">(.*?)</fieldset>', body, re.S).group(1)
    boxes = re.findall(r'name="cond_departmentId" value="([^"]*)" [^>]*> ([^<]*)</label>', picker)
    assert boxes == [(support, "Support"), (field, "Field Service")]  # names, not ids
    assert 'id="cond_departmentId"' not in body  # no typed ids

    response = zoho_page.submit(
        step2, "item_save", m0_helpdesk="subject", m0_jira="summary", auto_create="on", cond_departmentId=[field]
    )
    assert "Saved Field." in page_text(response), page_text(response)
    item = ConnectedItem.objects.get()
    assert item.auto_create_conditions == {"departmentId": [field]}
    from connector.providers.zoho_desk import ZohoDeskProvider

    assert ZohoDeskProvider().matches_conditions({"departmentId": field}, item.auto_create_conditions)
    assert checked(
        zoho_page.submit(zoho_page.submit(zoho_page.open(), "item_edit"), "item_step1"), "cond_departmentId", field
    )


def test_a_department_list_zoho_refuses_falls_back_to_typed_ids(zoho_page, zoho):
    for _ in range(2):  # refused each time it is asked: by the auto-create conditions and the values of new records
        zoho.fail_next(
            403,
            {
                "errorCode": "SCOPE_MISMATCH",
                "message": "The OAuth Token does not contain the scope to perform this operation.",
            },
            path=r"/departments",
        )
    zoho_page.post("item_new")
    step2 = zoho_page.post("item_step1", _scope("Typed"))
    assert step2.status_code == 200
    body = step2.content.decode()
    assert '<label for="cond_departmentId">Department ids</label><input type="text" id="cond_departmentId"' in body
    note = re.search(r'id="cond_departmentId_note"[^>]*>([^<]*)</div>', body).group(1)
    assert note.startswith("Could not load Zoho Desk departments: ") and "SCOPE" in note.upper()
    assert note.endswith("Until then, type the department ids here, separated by commas.")


def test_status_field_and_table_are_saved_with_the_item_and_shown_when_editing(zoho_page, zoho, tenant):
    zoho_page.post("item_new")
    step2 = zoho_page.post("item_step1", _scope("Escalations"))
    response = zoho_page.submit(
        step2,
        "item_save",
        m0_helpdesk="subject",
        m0_jira="summary",
        status_sync="on",
        sm0_category="new",  # Open → To Do
        sm2_category="done",  # Escalated → Done
        cond_priority="High, Medium",
        cond_channel="Email",
    )
    assert response.status_code == 200 and "Saved Escalations." in page_text(response), page_text(response)
    assert "Tickets" in _item_row(response, "Escalations")
    item = ConnectedItem.objects.get()
    assert item.status_sync and item.status_field == "status"
    assert item.status_map == {"Open": "new", "On Hold": "indeterminate", "Escalated": "done", "Closed": "done"}
    assert item.auto_create_conditions == {"priority": ["High", "Medium"], "channel": ["Email"]}

    step1 = zoho_page.submit(zoho_page.open(), "item_edit")
    step2 = zoho_page.submit(step1, "item_step1")
    assert selected(step2, "status_field") == "status"
    assert [selected(step2, f"sm{i}_category") for i in range(4)] == ["new", "indeterminate", "done", "done"]
    assert checked(step2, "cond_priority", "High") and checked(step2, "cond_priority", "Medium")
    assert not checked(step2, "cond_priority", "Low")
    zoho_page.submit(step2, "item_save")
    item.refresh_from_db()
    assert item.status_map["Escalated"] == "done" and item.auto_create_conditions["channel"] == ["Email"]


def test_another_status_field_shows_its_values(zoho_page, zoho):
    zoho.add_field(
        zoho.org.id, "tasks", api_name="cf_stage", label="Stage", type="Picklist", allowed_values=["Backlog", "Shipped"]
    )
    zoho_page.post("item_new")
    step2 = zoho_page.post("item_step1", _scope("Tasks", helpdesk_object="tasks"))
    assert selected(step2, "status_field") == "status"
    # choosing another field reloads step 2 with that field's values (defaults by name)
    reloaded = zoho_page.submit(step2, "item_status_reload", status_field="cf_stage")
    assert reloaded.status_code == 200 and selected(reloaded, "status_field") == "cf_stage"
    assert re.findall(r'<tr data-status="([^"]+)">', reloaded.content.decode()) == ["Backlog", "Shipped"]
    response = zoho_page.submit(reloaded, "item_save", status_sync="on", sm1_category="done")
    assert "Saved Tasks." in page_text(response), page_text(response)
    item = ConnectedItem.objects.get()
    assert (item.helpdesk_object, item.status_field) == ("tasks", "cf_stage")
    assert item.status_map == {"Backlog": "indeterminate", "Shipped": "done"}


def test_a_status_table_of_another_field_is_not_saved_for_the_new_one(zoho_page, zoho):
    """The field was changed without reloading the table: the old field's rows are dropped, defaults apply."""
    zoho.add_field(zoho.org.id, "tasks", api_name="cf_stage", label="Stage", type="Picklist", allowed_values=["Go"])
    zoho_page.post("item_new")
    step2 = zoho_page.post("item_step1", _scope("Tasks", helpdesk_object="tasks"))
    response = zoho_page.submit(step2, "item_save", status_field="cf_stage", sm0_category="done")
    assert "Saved Tasks." in page_text(response), page_text(response)
    assert ConnectedItem.objects.get().status_map == {"Go": "indeterminate"}


def test_status_sync_of_a_module_without_a_status_field_asks_for_one(zoho_page):
    zoho_page.post("item_new")
    step2 = zoho_page.post("item_step1", _scope("Accounts", helpdesk_object="accounts"))
    assert selected(step2, "status_field") is None and ("", "— none —") in options(step2, "status_field")
    response = zoho_page.submit(step2, "item_save", status_sync="on")
    assert response.status_code == 400
    assert "have no status field of their own" in field_errors(response, "status_field")[0]
    assert not ConnectedItem.objects.exists()


# --- sync and credits ---------------------------------------------------------------------------------------------


def test_sync_now_names_zoho_desk(zoho_page, django_capture_on_commit_callbacks):
    zoho_page.post("item_new")
    step2 = zoho_page.post("item_step1", _scope("Escalations"))
    zoho_page.submit(step2, "item_save", m0_helpdesk="subject", m0_jira="summary")
    with django_capture_on_commit_callbacks() as queued:
        response = zoho_page.post("sync_now")
    assert response.status_code == 200, page_text(response)
    assert "Sync queued: Zoho Desk changes are being pulled into linked issues now." in page_text(response)
    assert len(queued) == 1


def test_api_credits_spent_today_are_shown(zoho_page, tenant, other):
    from sync.models import SyncRun

    connection = HelpdeskConnection.objects.get(tenant=tenant)
    assert "Zoho Desk API credits spent today by Deskbridge: 0" in page_text(zoho_page.open())
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for started, credits in ((now, 120), (midnight, 30), (midnight - timedelta(seconds=1), 500)):
        SyncRun.objects.create(
            tenant=tenant, connection=connection, trigger="schedule", started_at=started, credits=credits
        )
    # another site's runs are not counted
    SyncRun.objects.create(tenant=other.tenant, connection=other.connection, trigger="schedule", credits=900)
    page = zoho_page.open()
    assert text_of(page, "zoho-credits") == "Zoho Desk API credits spent today by Deskbridge: 150"
