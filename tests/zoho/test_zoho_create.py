"""Zoho Desk records created from Jira, through the real HTTP stack against the fake Zoho Desk on loopback: the
modules that can be created and their mandatory fields, the create body, contacts and accounts found or made
(once, even when search has not caught up with a record made a moment ago), the Jira origin written into the
item's text custom field and found again after a crash, and Zoho's refusals in its own shape and in our words."""

from __future__ import annotations

import pytest

from connector.clients.base import ApiBadRequest
from connector.clients.zoho_desk import REQUIRED_SCOPES, ZohoDeskClient, ZohoScopeMismatch
from connector.mapping import ValueNotMapped
from connector.providers import client_for, provider_for

pytestmark = pytest.mark.django_db

TAG = "cf_jira_issue"
KEY = "deskbridge-0a1b2c-10001-7"


@pytest.fixture
def provider():
    return provider_for("zoho_desk")


@pytest.fixture
def zclient(zoho_connection):
    return client_for(zoho_connection)


@pytest.fixture
def org(zoho):
    return zoho.org.id


@pytest.fixture
def department(zoho, org):
    return zoho.default_department(org)["id"]


@pytest.fixture
def tagged(zoho, org):
    """The text custom field tickets carry their Jira origin in."""
    zoho.add_field(org, "tickets", api_name=TAG, label="Jira issue")
    return TAG


@pytest.fixture
def lagging(zoho, settings):
    """Zoho's search shows a new record only half a minute later; the provider knows it does."""
    zoho.search_lag_seconds = 30
    settings.ZOHO_SEARCH_SETTLE_SECONDS = 30
    return zoho


def records(zoho, org, module):
    return list(zoho.orgs[org].records[module].values())


def posts(zoho, module):
    return zoho.calls("POST", rf"/api/v1/{module}$")


# --- modules, required and read-only fields ------------------------------------------------------------------


def test_the_modules_a_jira_issue_can_create(provider):
    assert provider.creatable_objects == {"tickets", "contacts", "accounts", "tasks", "calls", "events"}
    for module in ("timeEntry", "contracts", "products"):  # a parent ticket, an account's terms, no scope
        assert provider.create_required_fields(module, []) == {}
        with pytest.raises(ValueNotMapped, match="cannot be created from Jira"):
            provider.create_payload(module, {"description": "x"})


@pytest.mark.parametrize(
    ("module", "required"),
    [
        ("tickets", {"subject": "Subject", "departmentId": "Department"}),
        ("contacts", {"lastName": "Last Name"}),
        ("accounts", {"accountName": "Account Name"}),
        ("tasks", {"subject": "Subject", "departmentId": "Department"}),
        (
            "calls",
            {
                "subject": "Subject",
                "departmentId": "Department",
                "startTime": "Call Start Time",
                "direction": "Call Type",
                "duration": "Call Duration",
                "status": "Status",
            },
        ),
        (
            "events",
            {"subject": "Subject", "departmentId": "Department", "startTime": "Start Time", "duration": "Duration"},
        ),
    ],
)
def test_required_fields_are_the_modules_mandatory_ones_less_contact_and_account(provider, zclient, module, required):
    fields = provider.fields(zclient, module)
    assert provider.create_required_fields(module, fields) == required  # the contact comes from people_part


def test_a_custom_mandatory_field_is_required_and_zoho_enforced_ones_even_when_metadata_forgets_them(
    zoho, org, provider, zclient
):
    zoho.add_field(org, "tickets", api_name="cf_severity", label="Severity", mandatory=True)
    for definition in zoho.orgs[org].fields["tickets"]:
        if definition["apiName"] == "departmentId":
            definition["isMandatory"] = False  # a portal whose layout does not mark it
    required = provider.create_required_fields("tickets", provider.fields(zclient, "tickets"))
    assert required == {"subject": "Subject", "departmentId": "Department", "cf_severity": "Severity"}


def test_what_zoho_sets_and_the_contact_and_account_cannot_be_given(provider):
    readonly = provider.create_readonly_fields("tickets")
    assert {"id", "ticketNumber", "createdTime", "contactId", "accountId"} <= readonly
    assert "subject" not in readonly and "departmentId" not in readonly
    assert "accountId" in provider.create_readonly_fields("contacts")
    assert "contactId" not in provider.create_readonly_fields("tasks")  # a task's contact is an ordinary field


def test_the_create_body_groups_custom_fields_and_writes_a_ticket_description_as_html(provider):
    values = {"subject": "Printer on fire", "description": "The printer is on fire", "cf_severity": "S1"}
    html = {"description": "<p>The printer is <strong>on fire</strong></p>"}
    body = provider.create_payload("tickets", values, html=html)
    assert body == {
        "subject": "Printer on fire",
        "description": "<p>The printer is <strong>on fire</strong></p>",
        "cf": {"cf_severity": "S1"},
    }
    assert provider.create_payload("tickets", values)["description"] == "The printer is on fire"  # plain text
    # other modules show their description as text: the text is sent
    assert provider.create_payload("tasks", values, html=html)["description"] == "The printer is on fire"
    with pytest.raises(ValueNotMapped, match="Map it to Jira only"):
        provider.create_payload("tickets", {"ticketNumber": "7"})


# --- people and organizations of new records -----------------------------------------------------------------


def test_a_ticket_names_its_contact_and_account_and_refuses_to_go_without_a_contact(provider):
    assert provider.create_people("tickets") == {"requester", "organization"}
    assert provider.people_part("tickets", person_id="11", organization_id="22") == {
        "contactId": "11",
        "accountId": "22",
    }
    assert provider.people_part("tickets", person_id="11", organization_id="") == {"contactId": "11"}
    with pytest.raises(ValueNotMapped) as refused:
        provider.people_part("tickets", person_id="", organization_id="22")
    assert "A Zoho Desk ticket needs a contact" in str(refused.value)
    assert "hides the requester's email address" in str(refused.value) and "no default requester" in str(refused.value)
    with pytest.raises(ValueNotMapped, match="A Zoho Desk call needs a contact"):
        provider.people_part("calls", person_id="", organization_id="")


def test_contacts_name_their_account_and_other_modules_no_one(provider):
    assert provider.create_people("contacts") == {"organization"}
    assert provider.people_part("contacts", person_id="", organization_id="22") == {"accountId": "22"}
    assert provider.people_part("contacts", person_id="", organization_id="") == {}
    for module in ("accounts", "tasks"):
        assert provider.create_people(module) == frozenset()
        assert provider.people_part(module, person_id="11", organization_id="22") == {}


def test_a_contact_is_found_by_email_whatever_its_case_the_oldest_of_several(zoho, org, provider, zclient):
    oldest = zoho.add_contact(org, firstName="Rita", lastName="Reporter", email="rita@customer.test", accountId="5")
    zoho.advance(5)
    zoho.add_contact(org, lastName="Rita again", email="rita@customer.test")  # Zoho lets two share an email
    zoho.add_contact(org, lastName="Other", email="other@customer.test")
    assert provider.person_find(zclient, " Rita@Customer.TEST ") == {
        "id": oldest["id"],
        "name": "Rita Reporter",
        "email": "rita@customer.test",
        "organization_id": "5",
    }
    assert provider.person_find(zclient, "nobody@customer.test") is None
    before = len(zoho.requests)
    assert provider.person_find(zclient, "not an email") is None and provider.person_find(zclient, "a*@b.c") is None
    assert len(zoho.requests) == before  # nothing asked


def test_a_contact_by_id(zoho, org, provider, zclient):
    contact = zoho.add_contact(org, lastName="Reporter", email="rita@customer.test")
    assert provider.person_get(zclient, contact["id"])["name"] == "Reporter"
    assert provider.person_get(zclient, "1892000000000001") is None  # 404
    assert provider.person_get(zclient, "rita") is None


def test_person_create_uses_the_contact_search_finds(zoho, org, provider, zclient):
    existing = zoho.add_contact(org, lastName="R. (Zoho)", email="rita@customer.test")
    person = provider.person_create(zclient, email="Rita@Customer.test", name="Rita Reporter")
    assert person["id"] == existing["id"] and not posts(zoho, "contacts")
    assert existing["lastName"] == "R. (Zoho)"  # left as it is


def test_person_create_makes_a_contact_with_its_names_email_and_account(zoho, org, provider, zclient):
    account = zoho.add_account(org, accountName="Customer Inc")
    person = provider.person_create(
        zclient, email="Mary.Ann@Customer.test", name="Mary Ann  Smith", organization_id=account["id"]
    )
    [contact] = records(zoho, org, "contacts")
    assert person == {
        "id": contact["id"],
        "name": "Mary Ann Smith",
        "email": "mary.ann@customer.test",
        "organization_id": account["id"],
    }
    assert (contact["firstName"], contact["lastName"], contact["accountId"]) == ("Mary Ann", "Smith", account["id"])
    assert posts(zoho, "contacts")[0].json() == {
        "lastName": "Smith",
        "email": "mary.ann@customer.test",
        "firstName": "Mary Ann",
        "accountId": account["id"],
    }


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [("Cher", None, "Cher"), ("", None, "shy"), ("shy@customer.test", None, "shy")],
)
def test_a_contact_without_a_full_name_gets_a_last_name(zoho, org, provider, zclient, name, first, last):
    provider.person_create(zclient, email="shy@customer.test", name=name)
    [contact] = records(zoho, org, "contacts")
    assert (contact["firstName"], contact["lastName"]) == (first, last)


def test_person_create_refuses_what_is_not_an_email_address(zoho, provider, zclient):
    with pytest.raises(ValueNotMapped, match="matched by its email address"):
        provider.person_create(zclient, email="rita", name="Rita")
    assert not posts(zoho, "contacts")


def test_a_contact_made_a_moment_ago_is_not_made_again_although_search_does_not_show_it(
    lagging, org, provider, zclient
):
    zoho = lagging
    first = provider.person_create(zclient, email="rita@customer.test", name="Rita Reporter")
    assert provider.person_find(zclient, "rita@customer.test") is None  # not in search yet
    again = provider.person_create(zclient, email="rita@customer.test", name="Rita Reporter")  # the retry
    assert again["id"] == first["id"] and len(records(zoho, org, "contacts")) == 1
    # the newest contacts come from the list, whose rows carry the email: no record read one by one
    assert not zoho.calls("GET", r"/api/v1/contacts/\d+$")


def test_a_caller_that_just_searched_is_not_searched_for_again_but_a_contact_made_a_moment_ago_is_found(
    lagging, org, provider, zclient
):
    zoho = lagging
    first = provider.person_create(zclient, email="rita@customer.test", name="Rita Reporter", searched=True)
    assert not zoho.calls("GET", r"/api/v1/contacts/search$")
    again = provider.person_create(zclient, email="rita@customer.test", name="Rita Reporter", searched=True)
    assert again["id"] == first["id"] and len(records(zoho, org, "contacts")) == 1  # from the newest contacts


def connect_with(zoho, tenant, scopes: str):
    from connector.services.zoho import zoho_connect
    from tests.conftest import ZOHO_CLIENT_ID, ZOHO_DC, ZOHO_SECRET

    code = zoho.self_client_code(ZOHO_CLIENT_ID, scopes=scopes)
    return zoho_connect(
        tenant=tenant, data_center=ZOHO_DC, client_id=ZOHO_CLIENT_ID, client_secret=ZOHO_SECRET, code=code
    )


def test_creating_a_contact_needs_the_contacts_create_scope(zoho, tenant, project, provider):
    scopes = ",".join(s for s in REQUIRED_SCOPES.split(",") if s != "Desk.contacts.CREATE")
    connection = connect_with(zoho, tenant, scopes)
    with pytest.raises(ZohoScopeMismatch):
        provider.person_create(client_for(connection), email="rita@customer.test", name="Rita")


def test_the_scopes_the_admin_page_shows_let_every_creatable_module_be_created(zoho, tenant, project, provider):
    org = zoho.org.id
    department = zoho.default_department(org)["id"]
    for module in provider.creatable_objects:
        zoho.add_field(org, module, api_name=TAG, label="Jira issue")
    connection = connect_with(zoho, tenant, REQUIRED_SCOPES)  # exactly the string to copy
    client = client_for(connection)
    person = provider.person_create(client, email="rita@customer.test", name="Rita Reporter")
    account = provider.organization_create(client, name="Customer Inc")
    contact = {"contactId": person["id"]}
    when = "2026-11-23T10:00:00.000Z"
    bodies = {
        "tickets": {"subject": "Printer on fire", "departmentId": department, **contact},
        "contacts": {"lastName": "Colleague", "accountId": account["id"]},
        "accounts": {"accountName": "Globex"},
        "tasks": {"subject": "Call back", "departmentId": department},
        "calls": {
            "subject": "Call back",
            "departmentId": department,
            "startTime": when,
            "direction": "outbound",
            "duration": 60,
            "status": "Scheduled",
            **contact,
        },
        "events": {"subject": "Visit", "departmentId": department, "startTime": when, "duration": 3600, **contact},
    }
    assert set(bodies) == provider.creatable_objects
    for module, body in bodies.items():
        made = provider.record_create(client, module, body, source_key=f"{KEY}-{module}", tag_field=TAG)
        assert made["cf"][TAG] == f"{KEY}-{module}", module


def test_accounts_by_exact_name_or_by_the_domain_of_their_website_or_email(zoho, org, provider, zclient):
    customer = zoho.add_account(org, accountName="Customer Inc", website="https://www.customer.test/about")
    mailer = zoho.add_account(org, accountName="Mailer", email="info@mailer.test")
    zoho.add_account(org, accountName="Not the customer", website="https://notcustomer.test")
    assert provider.organization_find(zclient, name="  customer   INC ") == {
        "id": customer["id"],
        "name": "Customer Inc",
        "domain": "customer.test",
    }
    assert provider.organization_find(zclient, name="Customer") is None  # a name is matched whole
    assert provider.organization_find(zclient, domain="customer.test")["id"] == customer["id"]
    assert provider.organization_find(zclient, domain="Mailer.test")["id"] == mailer["id"]
    assert provider.organization_find(zclient, domain="stomer.test") is None  # inside another host: not its domain
    # a name first; the domain when no account has the name
    assert provider.organization_find(zclient, name="Mailer", domain="customer.test")["id"] == mailer["id"]
    assert provider.organization_find(zclient, name="Unknown", domain="customer.test")["id"] == customer["id"]
    before = len(zoho.requests)
    assert provider.organization_find(zclient, name="Cust*") is None  # a wildcard cannot ask for an exact name
    assert provider.organization_find(zclient, domain="*.test") is None
    assert provider.organization_find(zclient) is None
    assert len(zoho.requests) == before  # none of those was asked


def test_of_accounts_sharing_a_name_or_a_domain_the_oldest_is_taken(zoho, org, provider, zclient):
    first = zoho.add_account(org, accountName="Globex", website="globex.test")
    zoho.advance(5)
    zoho.add_account(org, accountName="Globex", website="https://globex.test")
    assert provider.organization_find(zclient, name="Globex")["id"] == first["id"]
    assert provider.organization_find(zclient, domain="globex.test")["id"] == first["id"]


def test_an_account_by_id(zoho, org, provider, zclient):
    account = zoho.add_account(org, accountName="Customer Inc", website="customer.test")
    assert provider.organization_get(zclient, account["id"]) == {
        "id": account["id"],
        "name": "Customer Inc",
        "domain": "customer.test",
    }
    assert provider.organization_get(zclient, "1892000000000001") is None
    assert provider.organization_get(zclient, "") is None


def test_organization_create_finds_the_account_or_makes_it_once(zoho, org, provider, zclient):
    existing = zoho.add_account(org, accountName="Customer Inc")
    assert provider.organization_create(zclient, name="customer inc")["id"] == existing["id"]
    assert not posts(zoho, "accounts")
    made = provider.organization_create(zclient, name="Globex", domain="Globex.test")
    assert made["name"] == "Globex" and made["domain"] == "globex.test"
    assert posts(zoho, "accounts")[0].json() == {"accountName": "Globex", "website": "globex.test"}
    by_domain = provider.organization_create(zclient, name="", domain="initech.test")
    assert by_domain["name"] == "initech.test" and len(records(zoho, org, "accounts")) == 3
    assert provider.organization_create(zclient, name="", domain="initech.test")["id"] == by_domain["id"]
    with pytest.raises(ValueNotMapped, match="needs a name"):
        provider.organization_create(zclient, name=" ", domain="")


def test_an_account_made_a_moment_ago_is_not_made_again(lagging, org, provider, zclient):
    zoho = lagging
    first = provider.organization_create(zclient, name="Globex", domain="globex.test")
    assert provider.organization_find(zclient, name="Globex") is None  # not in search yet
    assert provider.organization_create(zclient, name="GLOBEX")["id"] == first["id"]
    assert provider.organization_create(zclient, name="", domain="globex.test")["id"] == first["id"]
    assert len(records(zoho, org, "accounts")) == 1


# --- tagging and finding created records ---------------------------------------------------------------------


def test_the_created_record_carries_its_jira_origin_in_the_tag_field(zoho, org, provider, zclient, tagged, department):
    contact = zoho.add_contact(org, lastName="Reporter", email="rita@customer.test")
    body = {"subject": "Printer on fire", "departmentId": department, "contactId": contact["id"], "cf": {}}
    ticket = provider.record_create(zclient, "tickets", body, source_key=KEY, tag_field=tagged)
    assert ticket["cf"][TAG] == KEY and records(zoho, org, "tickets")[0]["cf"][TAG] == KEY
    assert provider.record_find_by_source(zclient, "tickets", KEY, tag_field=tagged)["id"] == ticket["id"]
    assert provider.record_tag_required("tickets") is True


def test_a_record_needs_a_custom_field_to_carry_its_origin(zoho, provider, zclient, department):
    for tag in ("", "subject"):
        with pytest.raises(ValueNotMapped, match=r"text custom field \(cf_"):
            provider.record_create(zclient, "tasks", {"subject": "x"}, source_key=KEY, tag_field=tag)
    with pytest.raises(ValueNotMapped, match="cannot be created from Jira"):
        provider.record_create(zclient, "contracts", {}, source_key=KEY, tag_field=TAG)
    assert not zoho.calls("POST", r"/desk/")


def test_the_tag_is_compared_exactly(zoho, org, provider, zclient, tagged):
    zoho.add_ticket(org, cf={TAG: KEY.upper()})  # Zoho's search ignores case: it finds this one
    zoho.add_ticket(org, cf={TAG: KEY + "0"})
    zoho.advance(600)  # long made: in search
    assert provider.record_find_by_source(zclient, "tickets", KEY, tag_field=tagged) is None
    wanted = zoho.add_ticket(org, cf={TAG: KEY})
    assert provider.record_find_by_source(zclient, "tickets", KEY, tag_field=tagged)["id"] == wanted["id"]
    assert provider.record_find_by_source(zclient, "contracts", KEY, tag_field=tagged) is None
    assert provider.record_find_by_source(zclient, "tickets", "", tag_field=tagged) is None


def test_a_record_made_just_before_a_crash_is_found_although_search_does_not_show_it(
    lagging, org, provider, zclient, tagged, department
):
    zoho = lagging
    older = [zoho.add_ticket(org, subject=f"Old {n}") for n in range(3)]
    zoho.advance(600)
    contact = zoho.add_contact(org, lastName="Reporter", email="rita@customer.test")
    made = provider.record_create(
        zclient,
        "tickets",
        {"subject": "Printer on fire", "departmentId": department, "contactId": contact["id"]},
        source_key=KEY,
        tag_field=tagged,
    )
    zoho.advance(1)
    other = zoho.add_ticket(org, subject="Someone else's", contactId=contact["id"])  # made after ours
    search = {"customField1": f"{TAG}:{KEY}"}
    before = len(zoho.calls("GET", r"/tickets/search$"))
    found = provider.record_find_by_source(zclient, "tickets", KEY, tag_field=tagged)
    assert found["id"] == made["id"]
    [asked] = zoho.calls("GET", r"/tickets/search$")[before:]
    assert {k: v[0] for k, v in asked.query.items() if k in search} == search  # search first (it lags)
    # the list rows have no cf: only the tickets recent enough to be missing from search were read
    read = {r.path.rsplit("/", 1)[-1] for r in zoho.calls("GET", r"/api/v1/tickets/\d+$")}
    assert made["id"] in read and not read & {t["id"] for t in older}
    assert read <= {made["id"], other["id"]}
    assert provider.record_find_by_source(zclient, "tickets", KEY + "x", tag_field=tagged) is None


# --- refusals ------------------------------------------------------------------------------------------------


def test_missing_mandatory_fields_are_refused_in_zohos_shape_and_said_in_words(zoho, org, provider, zclient, tagged):
    with pytest.raises(ApiBadRequest) as refused:
        provider.record_create(zclient, "tickets", {"subject": "No department"}, source_key=KEY, tag_field=tagged)
    assert refused.value.status == 422 and refused.value.body["errorCode"] == "INVALID_DATA"
    assert {(e["fieldName"], e["errorType"]) for e in refused.value.body["errors"]} == {
        ("/departmentId", "missing"),
        ("/contactId", "missing"),
    }
    message = refused.value.message
    assert message.startswith("Zoho Desk answered INVALID_DATA: ")
    assert "departmentId is missing" in message and "contactId is missing" in message
    assert provider.refused_fields(refused.value) == ["departmentId", "requester"]
    with pytest.raises(ApiBadRequest) as unknown:
        provider.record_create(
            zclient, "tickets", {"subject": "x", "accountId": "999"}, source_key=KEY, tag_field=tagged
        )
    assert "organization" in provider.refused_fields(unknown.value)
    assert not records(zoho, org, "tickets")


def test_refused_fields_read_the_pointers_zoho_names():
    provider = provider_for("zoho_desk")
    errors = [
        {"fieldName": "/accountId", "errorType": "invalid"},
        {"fieldName": "/cf/cf_tier", "errorType": "invalid"},
        {"errorType": "invalid"},  # names no field
        "not an object",
    ]
    assert provider.refused_fields(ApiBadRequest("x", body={"errors": errors})) == ["cf_tier", "organization"]
    assert provider.refused_fields(ApiBadRequest("x", body={"errorCode": "UNPROCESSABLE_ENTITY"})) == []
    assert provider.refused_fields(ApiBadRequest("x", body="<html>")) == []


@pytest.mark.parametrize(
    ("errors", "words"),
    [
        ([{"fieldName": "/email", "errorType": "duplicate"}], "(email already exists)"),
        ([{"fieldName": "/cf/cf_x", "errorType": "invalid", "errorMessage": ""}], "(cf_x is invalid)"),
        ([{"errorType": "missing"}], "(is missing)"),
        ([{"errorMessage": "Too long"}], "(Too long)"),
    ],
)
def test_zohos_field_errors_in_words(errors, words):
    client = ZohoDeskClient(dc="eu")
    body = {"errorCode": "INVALID_DATA", "message": "Invalid.", "errors": errors}
    assert client.error_message(422, body, "") == f"Zoho Desk answered INVALID_DATA: Invalid. {words}"


def test_an_invalid_custom_value_is_named_with_zohos_words(zoho, org, provider, zclient, tagged, department):
    zoho.add_field(org, "tasks", api_name="cf_size", label="Size", type="Picklist", allowed_values=["S", "M"])
    zoho.add_field(org, "tasks", api_name=TAG, label="Jira issue")
    body = {"subject": "Call back", "departmentId": department, "cf": {"cf_size": "XL", "cf_nope": "1"}}
    with pytest.raises(ApiBadRequest) as refused:
        provider.record_create(zclient, "tasks", body, source_key=KEY, tag_field=TAG)
    assert "cf_size is invalid" in refused.value.message and "cf_nope: No such custom field" in refused.value.message
    assert provider.refused_fields(refused.value) == ["cf_nope", "cf_size"]
    assert not records(zoho, org, "tasks")


# --- end to end: a Zoho ticket created from a Jira issue (sync.create) ------------------------------------------

COMPANY = "customfield_10050"
DESCRIPTION = {
    "type": "doc",
    "version": 1,
    "content": [
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "The printer is "},
                {"type": "text", "text": "on fire", "marks": [{"type": "strong"}]},
            ],
        }
    ],
}
REPORTER = {"accountId": "rita-1", "displayName": "Rita Reporter", "emailAddress": "Rita@Customer.test"}


@pytest.fixture
def item(tenant, zoho_connection, zoho, jira, tagged):
    """A two-way Zoho tickets item tagging created tickets in cf_jira_issue, the account named by a Jira field."""
    from connector.models import ConnectedItem
    from tests.panel.links_helpers import make_item

    jira.add_field(COMPANY, "Customer", {"type": "string", "custom": "textfield"})
    made = make_item(
        tenant,
        zoho_connection,
        name="Bugs to Zoho tickets",
        mode=ConnectedItem.Mode.TWO_WAY,
        helpdesk_object="tickets",
        jira_issue_type_id="10001",
        display_fields=["status"],
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
            {"helpdesk_field": "description", "jira_field": "description", "direction": "to_helpdesk", "value_map": {}},
        ],
    )
    for key, value in {
        "record_tag_field": TAG,
        "organization_rule": ConnectedItem.OrganizationRule.NAME,
        "organization_field": COMPANY,
        "organization_missing": ConnectedItem.OrganizationMissing.CREATE,
    }.items():
        setattr(made, key, value)
    made.save()
    return made


def bug(jira, key="SUP-7", reporter=REPORTER, company="Customer Inc"):
    return jira.add_issue(
        key=key, summary="Printer on fire", description=DESCRIPTION, reporter=dict(reporter), **{COMPANY: company}
    )


def create_for(tenant, item, issue, department, **values):
    from sync.create import record_create_for_issue

    return record_create_for_issue(
        tenant=tenant, item=item, issue_id=issue["id"], values={"departmentId": department, **values}, actor="t"
    )


def test_a_ticket_is_created_for_the_reporters_contact_in_the_named_account_and_linked(
    tenant, zoho, org, jira, item, department
):
    from sync.models import Link, RecordCreate

    rita = zoho.add_contact(org, firstName="Rita", lastName="R.", email="rita@customer.test")
    customer = zoho.add_account(org, accountName="Customer Inc")
    issue = bug(jira)
    result = create_for(tenant, item, issue, department)
    [ticket] = records(zoho, org, "tickets")
    assert result.record_id == ticket["id"] and ticket["subject"] == "Printer on fire"
    assert "<strong>on fire</strong>" in ticket["description"]  # the ADF description written as HTML
    assert (ticket["contactId"], ticket["accountId"], ticket["departmentId"]) == (
        rita["id"],
        customer["id"],
        department,
    )
    assert ticket["cf"][TAG] == RecordCreate.objects.get().source_key
    assert records(zoho, org, "contacts") == [rita] and records(zoho, org, "accounts") == [customer]  # matched
    link = Link.objects.get()
    assert (link.jira_issue_id, link.record_id, link.origin) == (issue["id"], ticket["id"], "manual")
    notes = zoho.orgs[org].comments[("tickets", ticket["id"])]
    assert len(notes) == 1 and "SUP-7" in notes[0]["content"] and notes[0]["isPublic"] is False  # the link note
    assert result.record_url.endswith(f"/tickets/details/{ticket['id']}")


def test_a_new_reporter_and_company_become_a_contact_in_a_new_account(tenant, zoho, org, jira, item, department):
    create_for(tenant, item, bug(jira, company="Initech"), department)
    [ticket] = records(zoho, org, "tickets")
    [contact] = records(zoho, org, "contacts")
    [account] = records(zoho, org, "accounts")
    assert (contact["firstName"], contact["lastName"], contact["email"]) == ("Rita", "Reporter", "rita@customer.test")
    assert account["accountName"] == "Initech" and contact["accountId"] == account["id"]
    assert (ticket["contactId"], ticket["accountId"]) == (contact["id"], account["id"])
    # the reporter is searched for once (not again when made), and the newest contacts listed once before the
    # contact is made (search shows a new contact only after a while)
    assert len(zoho.calls("GET", r"/api/v1/contacts/search$")) == 1
    assert len(zoho.calls("GET", r"/api/v1/contacts$")) == 1 and len(posts(zoho, "contacts")) == 1


def test_a_crash_between_zohos_create_and_our_commit_makes_no_second_ticket_contact_or_account(
    tenant, lagging, org, jira, item, department, monkeypatch
):
    from connector.providers.zoho_desk import ZohoDeskProvider
    from sync.models import Link, RecordCreate

    zoho = lagging  # nothing made a moment ago is in search yet
    real_create = ZohoDeskProvider.record_create

    def create_then_crash(self, *args, **kwargs):
        real_create(self, *args, **kwargs)
        raise RuntimeError("worker died before our commit")

    monkeypatch.setattr(ZohoDeskProvider, "record_create", create_then_crash)
    issue = bug(jira, company="Initech")
    with pytest.raises(RuntimeError):
        create_for(tenant, item, issue, department)
    [ticket] = records(zoho, org, "tickets")
    assert not Link.objects.exists() and RecordCreate.objects.get().record_id == ""

    monkeypatch.setattr(ZohoDeskProvider, "record_create", real_create)
    result = create_for(tenant, item, issue, department)
    assert result.record_id == ticket["id"] and records(zoho, org, "tickets") == [ticket]  # found by its tag
    assert len(records(zoho, org, "contacts")) == 1 and len(records(zoho, org, "accounts")) == 1
    assert Link.objects.get().record_id == ticket["id"]


def test_a_crash_after_the_contact_was_made_makes_no_second_contact(
    tenant, lagging, org, jira, item, department, monkeypatch
):
    from connector.providers.zoho_desk import ZohoDeskProvider

    zoho = lagging

    def die(self, *args, **kwargs):
        raise RuntimeError("worker died after the contact and account were made")

    monkeypatch.setattr(ZohoDeskProvider, "record_create", die)
    issue = bug(jira, company="Initech")
    with pytest.raises(RuntimeError):
        create_for(tenant, item, issue, department)
    assert len(records(zoho, org, "contacts")) == 1 and not records(zoho, org, "tickets")
    monkeypatch.undo()
    create_for(tenant, item, issue, department)
    [contact] = records(zoho, org, "contacts")
    assert records(zoho, org, "tickets")[0]["contactId"] == contact["id"]
    assert len(records(zoho, org, "accounts")) == 1


def test_a_hidden_reporter_email_without_a_default_requester_is_refused_and_makes_nothing(
    tenant, zoho, org, jira, item, department
):
    from sync.create import RequiredFieldsMissing

    hidden = bug(jira, key="SUP-8", reporter={"accountId": "shy-1", "displayName": "Shy Reporter"})
    with pytest.raises(RequiredFieldsMissing) as refused:
        create_for(tenant, item, hidden, department)
    assert "A Zoho Desk ticket needs a contact" in refused.value.message
    assert refused.value.extra["fields"] == ["requester"]
    assert not records(zoho, org, "tickets") and not records(zoho, org, "contacts")


def test_a_hidden_reporter_email_uses_the_items_default_requester(tenant, zoho, org, jira, item, department):
    desk = zoho.add_contact(org, lastName="Customer desk", email="desk@customer.test")
    item.default_requester_id = desk["id"]
    item.save()
    hidden = bug(jira, key="SUP-8", reporter={"accountId": "shy-1", "displayName": "Shy Reporter"})
    result = create_for(tenant, item, hidden, department)
    assert records(zoho, org, "tickets")[0]["contactId"] == desk["id"]
    assert any("Shy Reporter" in w for w in result.warnings)


def test_a_ticket_without_a_department_is_refused_naming_it(tenant, zoho, org, jira, item):
    from sync.create import RequiredFieldsMissing, record_create_for_issue

    with pytest.raises(RequiredFieldsMissing) as refused:
        record_create_for_issue(tenant=tenant, item=item, issue_id=bug(jira)["id"], actor="t")
    assert refused.value.extra["fields"] == ["departmentId"] and "Department" in refused.value.message
    assert not records(zoho, org, "tickets") and not posts(zoho, "contacts")


def test_zoho_refusing_the_ticket_is_said_in_our_words_with_the_field(tenant, zoho, org, jira, item, department):
    from sync.create import HelpdeskRefused

    with pytest.raises(HelpdeskRefused) as refused:
        create_for(tenant, item, bug(jira), department, priority="Urgent")  # not one of the portal's priorities
    assert refused.value.message.startswith("Zoho Desk refused the new record: Zoho Desk answered INVALID_DATA")
    assert "priority is invalid" in refused.value.message and refused.value.extra["fields"] == ["priority"]
    assert not records(zoho, org, "tickets")
    assert create_for(tenant, item, bug(jira, key="SUP-9"), department, priority="High").record_id  # then fixed


def test_by_domain_the_account_owning_the_reporters_email_domain_or_a_new_one_for_it(
    tenant, zoho, org, jira, item, department
):
    item.organization_rule = "domain"
    item.save()
    customer = zoho.add_account(org, accountName="Customer Inc", website="https://www.customer.test")
    create_for(tenant, item, bug(jira, company=""), department)
    assert records(zoho, org, "tickets")[0]["accountId"] == customer["id"]

    other = {"accountId": "olga-1", "displayName": "Olga Other", "emailAddress": "olga@other.test"}
    create_for(tenant, item, bug(jira, key="SUP-8", reporter=other, company=""), department)
    made = next(a for a in records(zoho, org, "accounts") if a["id"] != customer["id"])
    assert (made["accountName"], made["website"]) == ("other.test", "other.test")
    assert records(zoho, org, "tickets")[1]["accountId"] == made["id"]


def test_by_domain_a_new_contact_is_made_in_the_new_account(tenant, zoho, org, jira, item, department):
    """Zoho does not put contacts in accounts by domain (Zendesk does): the account is made first and the new
    contact made in it."""
    item.organization_rule = "domain"
    item.save()
    other = {"accountId": "olga-1", "displayName": "Olga Other", "emailAddress": "olga@other.test"}
    create_for(tenant, item, bug(jira, key="SUP-8", reporter=other, company=""), department)
    [account] = records(zoho, org, "accounts")
    contact = next(c for c in records(zoho, org, "contacts") if c.get("email") == "olga@other.test")
    assert contact["accountId"] == account["id"]


def test_a_tag_field_zoho_cannot_carry_the_origin_in_is_a_clear_400_and_makes_nothing(
    tenant, zoho, org, jira, item, department
):
    from sync.create import RecordCreateUnavailable
    from sync.models import RecordCreate

    item.record_tag_field = "subject"  # not a custom field
    item.save()
    with pytest.raises(RecordCreateUnavailable) as refused:
        create_for(tenant, item, bug(jira), department)
    assert "cannot be written" in refused.value.message and not records(zoho, org, "tickets")
    assert RecordCreate.objects.get().attempted_at is None  # released: a retry may come at once


def test_the_preview_offers_zohos_departments_for_the_department(tenant, zoho, org, jira, item, department):
    from sync.create import record_create_preview

    preview = record_create_preview(tenant=tenant, item=item, issue_id=bug(jira)["id"])
    [field] = [f for f in preview["fields"] if f["id"] == "departmentId"]
    assert field["required"] and department in {o["value"] for o in field["options"]}
