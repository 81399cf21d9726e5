"""Who a ticket created from Jira is for (sync.create, the item's requester and organization rules), against
the fake Jira and Zendesk: the requester matched by email, created, or the default; the organization matched
by name or by the email's domain, created (once, under retry), the default, or none; and what the run says."""

from __future__ import annotations

import pytest

from connector.models import ConnectedItem
from connector.providers.zendesk import ZendeskProvider
from sync.create import CreateContext, record_create_for_issue, record_create_preview
from sync.models import Link
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import make_item

pytestmark = pytest.mark.django_db

REPORTER = {"accountId": "rita-1", "displayName": "Rita Reporter", "emailAddress": "rita@globex.test"}


@pytest.fixture
def item(tenant, connection, jira):
    jira.add_field("customfield_10050", "Customer", {"type": "string", "custom": "textfield"})
    return make_item(
        tenant,
        connection,
        name="Bugs to tickets",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_helpdesk", "value_map": {}},
            {"helpdesk_field": "description", "jira_field": "description", "direction": "to_jira", "value_map": {}},
        ],
    )


def configure(item, **settings):
    for key, value in settings.items():
        setattr(item, key, value)
    item.save()
    return item


def account(zendesk):
    return zendesk.accounts[ZD_SUBDOMAIN]


def issue(jira, key="SUP-1", reporter=REPORTER, **fields):
    return jira.add_issue(key=key, summary=f"Bug {key}", description="It broke", reporter=dict(reporter), **fields)


def create(tenant, item, issue_, ctx=None):
    return record_create_for_issue(tenant=tenant, item=item, issue_id=issue_["id"], actor="tester", ctx=ctx)


def ticket_of(zendesk, result):
    return account(zendesk).tickets[int(result.record_id)]


def test_match_or_default_uses_the_default_requester_when_no_person_has_the_email(tenant, jira, zendesk, item):
    default = zendesk.add_user(ZD_SUBDOMAIN, name="Customer Desk", email="desk@acme.test")
    configure(
        item,
        requester_rule=ConnectedItem.RequesterRule.MATCH_OR_DEFAULT,
        default_requester_id=str(default["id"]),
        default_requester_label="Customer Desk",
    )
    users_before = len(account(zendesk).users)
    result = create(tenant, item, issue(jira))
    assert ticket_of(zendesk, result)["requester_id"] == default["id"]
    assert len(account(zendesk).users) == users_before  # nobody was created
    assert any("rita@globex.test" in w and "Customer Desk" in w for w in result.warnings)


def test_match_or_default_still_uses_a_person_who_has_the_email(tenant, jira, zendesk, item):
    rita = zendesk.add_user(ZD_SUBDOMAIN, name="Rita", email="rita@globex.test")
    default = zendesk.add_user(ZD_SUBDOMAIN, name="Customer Desk", email="desk@acme.test")
    configure(item, requester_rule="match_or_default", default_requester_id=str(default["id"]))
    assert ticket_of(zendesk, create(tenant, item, issue(jira)))["requester_id"] == rita["id"]


def test_a_hidden_email_uses_the_default_requester_and_says_why(tenant, jira, zendesk, item):
    default = zendesk.add_user(ZD_SUBDOMAIN, name="Customer Desk", email="desk@acme.test")
    configure(item, default_requester_id=str(default["id"]), default_requester_label="Customer Desk")
    shy = issue(jira, reporter={"accountId": "shy", "displayName": "Shy Person"})
    result = create(tenant, item, shy)
    assert ticket_of(zendesk, result)["requester_id"] == default["id"]
    [warning] = result.warnings
    assert "Shy Person" in warning and "hides" in warning and "Customer Desk" in warning


def test_a_mapped_user_field_is_the_requester_instead_of_the_reporter(tenant, jira, zendesk, item):
    configure(item, requester_field="assignee")
    result = create(
        tenant,
        item,
        issue(jira, assignee={"accountId": "a-1", "displayName": "Cara Customer", "emailAddress": "cara@initech.test"}),
    )
    requester = account(zendesk).users[ticket_of(zendesk, result)["requester_id"]]
    assert (requester["email"], requester["name"]) == ("cara@initech.test", "Cara Customer")


def test_an_organization_is_matched_by_name_from_a_jira_field(tenant, jira, zendesk, item):
    globex = zendesk.add_organization(ZD_SUBDOMAIN, name="Globex Corporation")
    configure(item, organization_rule="name", organization_field="customfield_10050", organization_missing="create")
    result = create(tenant, item, issue(jira, customfield_10050="globex corporation"))  # case does not matter
    assert ticket_of(zendesk, result)["organization_id"] == globex["id"]
    assert len(account(zendesk).organizations) == 1


def test_an_organization_is_matched_by_the_first_of_the_issues_jsm_organizations(tenant, jira, zendesk, item):
    from demo.fakes.jira import JSM_ORGANIZATIONS_FIELD, JSM_ORGANIZATIONS_SCHEMA

    jira.add_field(JSM_ORGANIZATIONS_FIELD, "Organizations", JSM_ORGANIZATIONS_SCHEMA)
    initech = zendesk.add_organization(ZD_SUBDOMAIN, name="Initech")
    configure(item, organization_rule="name", organization_field=JSM_ORGANIZATIONS_FIELD, organization_missing="none")
    orgs = jira.organizations_value("Initech", "Globex Corporation")
    result = create(tenant, item, issue(jira, **{JSM_ORGANIZATIONS_FIELD: orgs}))
    assert ticket_of(zendesk, result)["organization_id"] == initech["id"]


def test_an_unknown_organization_is_created_once_even_when_a_crash_follows(tenant, jira, zendesk, item, monkeypatch):
    configure(item, organization_rule="name", organization_field="customfield_10050", organization_missing="create")
    real = ZendeskProvider.record_create

    def die(self, *args, **kwargs):
        raise RuntimeError("worker killed after the organization and user were made")

    monkeypatch.setattr(ZendeskProvider, "record_create", die)
    first = issue(jira, customfield_10050="Initech")
    with pytest.raises(RuntimeError):
        create(tenant, item, first)
    monkeypatch.setattr(ZendeskProvider, "record_create", real)
    result = create(tenant, item, first)
    [org] = account(zendesk).organizations.values()
    assert org["name"] == "Initech" and ticket_of(zendesk, result)["organization_id"] == org["id"]
    requester = account(zendesk).users[ticket_of(zendesk, result)["requester_id"]]
    assert requester["organization_id"] == org["id"]  # the new person was made in it
    assert len([u for u in account(zendesk).users.values() if u["email"] == "rita@globex.test"]) == 1


def test_an_organization_made_meanwhile_by_someone_else_is_used_not_duplicated(tenant, jira, zendesk, item):
    """Zendesk names are unique: creating one that exists (made after our lookup) is refused, and found."""
    provider = ZendeskProvider()
    client = provider.client(item.connection)
    zendesk.add_organization(ZD_SUBDOMAIN, name="Hooli")
    made = provider.organization_create(client, name="Hooli")
    assert made["name"] == "Hooli" and len(account(zendesk).organizations) == 1


def test_no_match_uses_the_default_organization_or_none(tenant, jira, zendesk, item):
    fallback = zendesk.add_organization(ZD_SUBDOMAIN, name="Unassigned customers")
    configure(
        item,
        organization_rule="name",
        organization_field="customfield_10050",
        organization_missing="default",
        default_organization_id=str(fallback["id"]),
        default_organization_label="Unassigned customers",
    )
    result = create(tenant, item, issue(jira, customfield_10050="Nobody Inc"))
    assert ticket_of(zendesk, result)["organization_id"] == fallback["id"]
    assert any("Nobody Inc" in w and "Unassigned customers" in w for w in result.warnings)

    configure(item, organization_missing="none")
    bob = {"accountId": "b", "displayName": "Bob", "emailAddress": "bob@nobody.test"}
    second = create(tenant, item, issue(jira, key="SUP-2", reporter=bob, customfield_10050="Nobody Inc"))
    assert ticket_of(zendesk, second)["organization_id"] is None
    assert len(account(zendesk).organizations) == 1


def test_the_domain_rule_uses_the_organization_zendesk_assigns_by_domain(tenant, jira, zendesk, item):
    globex = zendesk.add_organization(ZD_SUBDOMAIN, name="Globex", domain_names=["globex.test"])
    configure(item, organization_rule="domain", organization_missing="create")
    result = create(tenant, item, issue(jira))
    assert ticket_of(zendesk, result)["organization_id"] == globex["id"]
    assert len(account(zendesk).organizations) == 1


def test_the_domain_rule_creates_an_organization_for_an_unknown_domain_once(tenant, jira, zendesk, item):
    configure(item, organization_rule="domain", organization_missing="create")
    first = create(tenant, item, issue(jira))
    second = create(
        tenant,
        item,
        issue(jira, key="SUP-2", reporter={"accountId": "b", "displayName": "Bob", "emailAddress": "bob@globex.test"}),
    )
    [org] = account(zendesk).organizations.values()
    assert org["domain_names"] == ["globex.test"]
    assert ticket_of(zendesk, first)["organization_id"] == ticket_of(zendesk, second)["organization_id"] == org["id"]


def test_people_are_looked_up_once_per_run(tenant, jira, zendesk, item):
    configure(item, organization_rule="name", organization_field="customfield_10050", organization_missing="create")
    ctx = CreateContext()
    for n in range(1, 4):
        create(tenant, item, issue(jira, key=f"SUP-{n}", customfield_10050="Initech"), ctx=ctx)
    paths = [r.path for r in zendesk.requests]
    assert sum("/users/search" in p for p in paths) == 1 and sum("create_or_update" in p for p in paths) == 2
    assert sum("/organizations/search" in p for p in paths) == 1
    assert Link.objects.filter(item=item).count() == 3


def test_the_preview_shows_the_values_and_people_without_making_anything(tenant, jira, zendesk, item):
    configure(item, organization_rule="name", organization_field="customfield_10050", organization_missing="create")
    preview = record_create_preview(tenant=tenant, item=item, issue_id=issue(jira, customfield_10050="Initech")["id"])
    fields = {f["id"]: f for f in preview["fields"]}
    assert fields["subject"]["value"] == "Bug SUP-1" and fields["subject"]["required"]
    assert fields["description"]["value"] == "It broke" and fields["description"]["required"]
    assert preview["requester"]["label"] == "Rita Reporter <rita@globex.test> (new in Zendesk)"
    assert preview["organization"]["label"] == "Initech (new in Zendesk)"
    assert not account(zendesk).tickets and not account(zendesk).organizations
    assert not [u for u in account(zendesk).users.values() if u["email"] == "rita@globex.test"]


def test_the_preview_of_an_issue_already_linked_through_the_item_is_refused(tenant, jira, zendesk, item):
    from sync.errors import LinkExists
    from tests.panel.links_helpers import raw_link

    linked = issue(jira)
    raw_link(tenant, item, linked["id"], "77")
    with pytest.raises(LinkExists):
        record_create_preview(tenant=tenant, item=item, issue_id=linked["id"])
