"""Finding the default requester and organization on the admin page by name, email or id (instead of typing
a helpdesk id): the helpdesk's search (Zendesk users/search and organizations/autocomplete, Zoho Desk's
contacts and accounts search) through the providers, against the fakes on loopback."""

from __future__ import annotations

import re

import pytest

from connector.models import ConnectedItem
from connector.providers import client_for, provider_for
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.conftest import AdminPage, page_text, selected
from tests.panel.test_item_create_settings import _step2

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(admin_page, zendesk) -> AdminPage:
    admin_page.open()
    admin_page.connect()
    return admin_page


@pytest.fixture
def people(zendesk, page):
    return {
        "dana": zendesk.add_user(ZD_SUBDOMAIN, name="Dana Default", email="dana@customer.test"),
        "dan": zendesk.add_user(ZD_SUBDOMAIN, name="Dan Other", email="dan@other.test"),
        "customer": zendesk.add_organization(ZD_SUBDOMAIN, name="Customer Inc"),
        "customs": zendesk.add_organization(ZD_SUBDOMAIN, name="Customs Office"),
        "acme": zendesk.add_organization(ZD_SUBDOMAIN, name="Acme"),
    }


def _choices(response, name: str) -> list[tuple[str, str]]:
    body = response.content.decode()
    match = re.search(rf'<select id="{name}" name="{name}"[^>]*>(.*?)</select>', body, re.S)
    assert match, f"{name} is not a picker"
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', match.group(1))


def test_the_default_requester_is_found_by_name_and_chosen_from_the_matches(page, people):
    step2 = _step2(page)
    found = page.submit(step2, "item_status_reload", requester_query="dan")
    dana, dan = people["dana"], people["dan"]
    assert _choices(found, "default_requester_id") == [
        ("", "— none —"),
        (str(dana["id"]), f"Dana Default &lt;dana@customer.test&gt; ({dana['id']})"),
        (str(dan["id"]), f"Dan Other &lt;dan@other.test&gt; ({dan['id']})"),
    ]
    assert "2 found for 'dan': choose one below." in page_text(found)
    saved = page.submit(
        found,
        "item_save",
        m0_helpdesk="subject",
        m0_jira="summary",
        requester_rule="match_or_default",
        default_requester_id=str(dana["id"]),
    )
    assert "Saved Support tickets." in page_text(saved)
    item = ConnectedItem.objects.get()
    assert (item.default_requester_id, item.default_requester_label) == (
        str(dana["id"]),
        "Dana Default <dana@customer.test>",
    )


def test_a_search_keeps_the_current_default_first_and_by_email_finds_one(page, people):
    dana, dan = str(people["dana"]["id"]), str(people["dan"]["id"])
    step2 = _step2(page)
    found = page.submit(step2, "item_status_reload", requester_query="dan@other.test", default_requester_id=dana)
    assert [value for value, _ in _choices(found, "default_requester_id")] == ["", dana, dan]
    assert selected(found, "default_requester_id") == dana
    both = page.submit(step2, "item_status_reload", requester_query="dan", default_requester_id=dana)
    assert [value for value, _ in _choices(both, "default_requester_id")] == ["", dana, dan]  # once each


def test_the_default_organization_is_found_by_the_start_of_its_name(page, people):
    step2 = _step2(page)
    found = page.submit(step2, "item_status_reload", organization_query="Custom", organization_rule="domain")
    assert [label for _, label in _choices(found, "default_organization_id")][1:] == [
        f"Customer Inc ({people['customer']['id']})",
        f"Customs Office ({people['customs']['id']})",
    ]


def test_nothing_found_is_said_and_the_id_can_still_be_typed(page, people):
    step2 = _step2(page)
    found = page.submit(step2, "item_status_reload", requester_query="nobody")
    assert "No person in Zendesk matches 'nobody'." in page_text(found)
    assert 'type="text" id="default_requester_id"' in found.content.decode()


def test_a_search_the_helpdesk_refuses_says_so(page, people, zendesk):
    zendesk.fail_next(403, {"error": "Forbidden", "description": "You do not have access"}, path=r"/users/search")
    found = page.submit(_step2(page), "item_status_reload", requester_query="dana")
    assert re.search(r"Could not search Zendesk: .+\. Try again in a moment\.", page_text(found))


# --- the providers' searches -----------------------------------------------------------------------------------


def test_zendesk_finds_people_by_id_name_or_email_and_organizations_by_id_or_name(connection, zendesk, people):
    provider, client = provider_for("zendesk"), client_for(connection)
    assert [p["name"] for p in provider.people_search(client, str(people["dan"]["id"]))] == ["Dan Other"]
    assert [p["name"] for p in provider.people_search(client, "DANA@customer.test")] == ["Dana Default"]
    assert provider.people_search(client, "  ") == []
    assert [o["name"] for o in provider.organizations_search(client, str(people["acme"]["id"]))] == ["Acme"]
    assert [o["name"] for o in provider.organizations_search(client, "acme")] == ["Acme"]
    assert provider.organizations_search(client, "A") == []  # one letter: Zendesk's autocomplete refuses it


def test_zoho_finds_contacts_and_accounts(zoho, zoho_connection):
    provider, client = provider_for("zoho_desk"), client_for(zoho_connection)
    org = zoho.org.id
    rita = zoho.add_contact(org, firstName="Rita", lastName="Reporter", email="rita@customer.test")
    zoho.add_contact(org, firstName="Sam", lastName="Smith", email="sam@customer.test")
    account = zoho.add_account(org, accountName="Customer Inc")
    assert [p["id"] for p in provider.people_search(client, "rita@customer.test")] == [rita["id"]]
    assert [p["id"] for p in provider.people_search(client, "Rit")] == [rita["id"]]
    assert [p["id"] for p in provider.people_search(client, rita["id"])] == [rita["id"]]
    assert [o["id"] for o in provider.organizations_search(client, "custom*")] == [account["id"]]
    [asked] = zoho.calls("GET", r"/accounts/search")
    assert asked.arg("accountName") == "custom*"  # a wildcard typed is not doubled
    assert [o["id"] for o in provider.organizations_search(client, account["id"])] == [account["id"]]
