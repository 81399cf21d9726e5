"""Link services (sync.services) and their selectors, against the stateful fake Jira and fake Zendesk.

What a user notices: a link stores a preview with readable values (option labels, people and
organization names, one value per field id), the issue's badge always shows the issue's link count, a
link note lands as a private comment, duplicates and missing records are refused with stable codes,
links made by sync cannot be removed by hand, and Refresh pulls the record live.
"""

from __future__ import annotations

import pytest

from connector.errors import HelpdeskRateLimited, HelpdeskUnavailable, NotConnected
from connector.models import ConnectedItem, HelpdeskConnection
from connector.services import ItemSpec, connected_item_save, connection_revoke
from sync.errors import AutoManagedLink, LinkExists, RecordNotFound
from sync.models import Link
from sync.selectors import card_items_for_project, issue_link_count, link_find, link_get, links_query
from sync.services import badge_property_key, link_create, link_delete, link_refresh
from tests.conftest import ZD_SUBDOMAIN

pytestmark = pytest.mark.django_db

BADGE_KEY = "com.atlassian.jira.issue:com.deskbridge.jira.test:deskbridge-issue-context:status"


def make_item(tenant, connection, name="Support tickets", **overrides) -> ConnectedItem:
    values = {
        "name": name,
        "mode": ConnectedItem.Mode.DISPLAY,
        "jira_project": "SUP",
        "helpdesk_object": "ticket",
        "display_fields": ["status", "priority"],
    }
    values.update(overrides)
    item, _ = connected_item_save(tenant=tenant, connection=connection, spec=ItemSpec(**values))
    return item


def badge(jira, issue_id):
    return jira.properties.get((str(issue_id), BADGE_KEY))


def values_by_id(preview) -> dict[str, str]:
    return {f["id"]: f["value"] for f in preview["fields"]}


@pytest.fixture
def item(tenant, connection, project):
    return make_item(tenant, connection)


@pytest.fixture
def issue(jira, project):
    return jira.add_issue(key="SUP-1", summary="Printer is on fire")


@pytest.fixture
def ticket(zendesk):
    return zendesk.add_ticket(ZD_SUBDOMAIN, subject="Printer on fire", priority="high", status="open")


@pytest.fixture
def stranger(db):
    """A second tenant row (no Jira site needed: the services refuse before any call)."""
    from tenants.models import Tenant

    return Tenant.objects.create(
        client_key="jira:stranger", app_key="x", base_url="https://stranger.example", shared_secret="s"
    )


def test_badge_property_key_is_the_issue_context_status_property():
    assert badge_property_key() == BADGE_KEY


# --- link_create ---------------------------------------------------------------------------------------


def test_link_create_stores_a_readable_preview_and_sets_the_badge(tenant, item, issue, ticket, jira, zendesk):
    link = link_create(
        tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]), actor="acc-1"
    )

    stored = Link.objects.get(pk=link.pk)
    assert (stored.tenant_id, stored.item_id, stored.jira_issue_id, stored.jira_issue_key, stored.record_id) == (
        tenant.pk,
        item.pk,
        issue["id"],
        "SUP-1",
        str(ticket["id"]),
    )
    assert stored.origin == Link.Origin.MANUAL and stored.created_by == "acc-1"
    assert stored.preview == {
        "id": str(ticket["id"]),
        "title": f"#{ticket['id']} Printer on fire",
        "subtitle": "open",
        "url": f"{zendesk.base_url(ZD_SUBDOMAIN)}/agent/tickets/{ticket['id']}",
        "fields": [
            {"id": "status", "label": "Status", "value": "open"},
            {"id": "priority", "label": "Priority", "value": "High"},
        ],
    }
    assert stored.preview_updated_at is not None
    assert badge(jira, issue["id"]) == {"type": "badge", "value": {"label": "1"}}
    item.refresh_from_db()
    assert item.linked_count == 1


def test_link_create_strips_ids(tenant, item, issue, ticket):
    link = link_create(
        tenant=tenant, item=item, issue_id=f" {issue['id']} ", issue_key="SUP-1", record_id=f" {ticket['id']}\n"
    )
    assert (link.jira_issue_id, link.record_id) == (issue["id"], str(ticket["id"]))


def test_a_duplicate_link_is_refused_without_calling_the_helpdesk(tenant, item, issue, ticket, zendesk):
    link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    before = len(zendesk.requests)

    with pytest.raises(LinkExists) as caught:
        link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))

    assert caught.value.code == "link_exists" and caught.value.status_code == 409
    assert "SUP-1" in caught.value.message and str(ticket["id"]) in caught.value.message
    assert Link.objects.count() == 1
    assert len(zendesk.requests) == before


def test_the_same_record_may_link_to_two_issues_and_through_two_items(
    tenant, connection, item, issue, ticket, jira, project
):
    other_issue = jira.add_issue(key="SUP-2")
    second_item = make_item(tenant, connection, name="Escalations")
    link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    link_create(tenant=tenant, item=item, issue_id=other_issue["id"], issue_key="SUP-2", record_id=str(ticket["id"]))
    link_create(tenant=tenant, item=second_item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))

    assert Link.objects.count() == 3
    # the badge counts every link of the issue, across items
    assert badge(jira, issue["id"]) == {"type": "badge", "value": {"label": "2"}}
    assert badge(jira, other_issue["id"]) == {"type": "badge", "value": {"label": "1"}}


@pytest.mark.parametrize("record_id", ["999", "abc"])
def test_a_missing_record_is_refused_and_nothing_is_stored(tenant, item, issue, jira, record_id):
    with pytest.raises(RecordNotFound) as caught:
        link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=record_id)

    assert caught.value.code == "record_not_found" and caught.value.status_code == 400
    assert f"ticket {record_id} does not exist" in caught.value.message
    assert caught.value.extra == {"record_id": record_id}
    assert not Link.objects.exists()
    assert badge(jira, issue["id"]) is None


def test_link_create_refuses_another_tenants_item(tenant, item, issue, ticket, stranger):
    with pytest.raises(ValueError):
        link_create(tenant=stranger, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    assert not Link.objects.exists()


def test_link_create_on_a_revoked_connection_says_not_connected(tenant, connection, item, issue, ticket, zendesk):
    connection_revoke(tenant=tenant, connection=connection)
    item.refresh_from_db()
    before = len(zendesk.requests)

    with pytest.raises(NotConnected) as caught:
        link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))

    assert caught.value.code == "helpdesk_not_connected"
    assert "reconnect" in caught.value.message
    assert len(zendesk.requests) == before
    assert not Link.objects.exists()


def test_a_rate_limited_helpdesk_gives_a_retry_time(tenant, item, issue, ticket, zendesk):
    zendesk.rate_limit_next(retry_after=42)
    with pytest.raises(HelpdeskRateLimited) as caught:
        link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    assert caught.value.status_code == 429
    assert caught.value.extra == {"retry_after": 42}
    assert "42 seconds" in caught.value.message
    assert not Link.objects.exists()


def test_rejected_credentials_mark_the_connection_and_say_reconnect(tenant, connection, item, issue, ticket, zendesk):
    zendesk.revoke_api_token(ZD_SUBDOMAIN, "zd-api-token-0123456789")
    with pytest.raises(HelpdeskUnavailable) as caught:
        link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    assert caught.value.code == "helpdesk_auth_failed"
    connection.refresh_from_db()
    assert connection.status == HelpdeskConnection.Status.AUTH_FAILED
    assert not Link.objects.exists()


def test_a_failing_badge_update_does_not_fail_the_link(tenant, item, issue, ticket, jira):
    jira.fail_next(503, {"errorMessages": ["down"], "errors": {}}, path=r"/properties/")
    link = link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    assert Link.objects.filter(pk=link.pk).exists()
    assert badge(jira, issue["id"]) is None  # the injected failure was really hit


# --- link note ---------------------------------------------------------------------------------------


def test_link_note_posts_a_private_comment_naming_issue_url_and_mode(
    tenant, connection, issue, ticket, jira, zendesk, project
):
    item = make_item(tenant, connection, name="Noted", link_note=True)
    comments = zendesk.accounts[ZD_SUBDOMAIN].comments[ticket["id"]]
    assert len(comments) == 1  # the description

    link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))

    assert len(comments) == 2
    note = comments[-1]
    assert note["public"] is False
    assert "SUP-1" in note["body"]
    assert f"{jira.url}/browse/SUP-1" in note["body"]
    assert "Display only" in note["body"]
    assert "Noted" in note["body"]


def test_no_note_without_link_note(tenant, item, issue, ticket, zendesk):
    link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    assert len(zendesk.accounts[ZD_SUBDOMAIN].comments[ticket["id"]]) == 1
    assert not zendesk.calls("PUT")


def test_a_failing_link_note_does_not_fail_the_link(tenant, connection, issue, zendesk, project):
    item = make_item(tenant, connection, name="Noted", link_note=True)
    closed = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Old one", status="closed")  # refuses every update

    link = link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(closed["id"]))

    assert Link.objects.filter(pk=link.pk).exists()
    assert len(zendesk.calls("PUT", r"/tickets/")) == 1
    assert len(zendesk.accounts[ZD_SUBDOMAIN].comments[closed["id"]]) == 1


def test_link_note_names_the_sync_mode_of_a_synchronized_item(tenant, connection, issue, ticket, zendesk, project):
    item = make_item(
        tenant,
        connection,
        name="Synced",
        mode=ConnectedItem.Mode.ONE_WAY,
        jira_issue_type_id="10001",
        link_note=True,
    )
    link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    note = zendesk.accounts[ZD_SUBDOMAIN].comments[ticket["id"]][-1]
    assert note["public"] is False
    assert "One-way sync to Jira (nothing mapped yet)" in note["body"]  # what syncs, in words


# --- readable previews ---------------------------------------------------------------------------------


def test_ticket_preview_shows_labels_and_names_keyed_by_field_id(tenant, connection, issue, jira, zendesk, project):
    severity = zendesk.add_ticket_field(ZD_SUBDOMAIN, "Severity", "tagger", options=["Sev 1", "Sev 2"])
    # a second field with the same label: both must show
    impact = zendesk.add_ticket_field(ZD_SUBDOMAIN, "Severity", "tagger", options=[("Low impact", "low_imp")])
    areas = zendesk.add_ticket_field(ZD_SUBDOMAIN, "Areas", "multiselect", options=["Billing", "Hardware"])
    vip = zendesk.add_ticket_field(ZD_SUBDOMAIN, "VIP", "checkbox")
    org = zendesk.add_organization(ZD_SUBDOMAIN, name="Globex Corporation")
    customer = zendesk.add_user(
        ZD_SUBDOMAIN, name="Carla Customer", email="carla@globex.test", organization_id=org["id"]
    )
    agent = zendesk.add_user(ZD_SUBDOMAIN, name="Sam Support", email="sam@acme.test", role="agent")
    ticket = zendesk.add_ticket(
        ZD_SUBDOMAIN,
        subject="Invoice printer jammed",
        priority="urgent",
        requester_id=customer["id"],
        organization_id=org["id"],
        assignee_id=agent["id"],
        custom_fields=[
            {"id": severity["id"], "value": "sev_2"},
            {"id": impact["id"], "value": "low_imp"},
            {"id": areas["id"], "value": ["billing", "hardware"]},
            {"id": vip["id"], "value": True},
        ],
    )
    fields = [
        "priority",
        f"custom_field:{severity['id']}",
        f"custom_field:{impact['id']}",
        f"custom_field:{areas['id']}",
        f"custom_field:{vip['id']}",
        "requester.name",
        "requester.email",
        "assignee",
        "organization.name",
        "ticket.url",
    ]
    item = make_item(tenant, connection, name="Readable", display_fields=fields)

    link = link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))

    assert [f["id"] for f in link.preview["fields"]] == fields  # the admin's order
    assert [f["label"] for f in link.preview["fields"]][1:3] == ["Severity", "Severity"]
    assert values_by_id(link.preview) == {
        "priority": "Urgent",
        f"custom_field:{severity['id']}": "Sev 2",
        f"custom_field:{impact['id']}": "Low impact",
        f"custom_field:{areas['id']}": "Billing, Hardware",
        f"custom_field:{vip['id']}": "Yes",
        "requester.name": "Carla Customer",
        "requester.email": "carla@globex.test",
        "assignee": "Sam Support",
        "organization.name": "Globex Corporation",
        "ticket.url": f"{zendesk.base_url(ZD_SUBDOMAIN)}/agent/tickets/{ticket['id']}",
    }
    # people and organizations are fetched in batches, not one call per field
    assert len(zendesk.calls("GET", r"/users/show_many\.json$")) == 1
    assert len(zendesk.calls("GET", r"/organizations/show_many\.json$")) == 1


def test_empty_values_are_blank_not_none(tenant, connection, issue, zendesk, project):
    severity = zendesk.add_ticket_field(ZD_SUBDOMAIN, "Severity", "tagger", options=["Sev 1"])
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Nothing set")
    item = make_item(
        tenant, connection, name="Blank", display_fields=["priority", f"custom_field:{severity['id']}", "assignee"]
    )
    link = link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    assert values_by_id(link.preview) == {"priority": "", f"custom_field:{severity['id']}": "", "assignee": ""}


def test_customer_preview_shows_user_field_labels_and_organization_name(tenant, connection, issue, zendesk, project):
    zendesk.add_user_field(ZD_SUBDOMAIN, "plan", "Plan", "dropdown", options=[("Enterprise plan", "ent")])
    org = zendesk.add_organization(ZD_SUBDOMAIN, name="Initech")
    user = zendesk.add_user(ZD_SUBDOMAIN, name="Peter Gibbons", email="peter@initech.test", organization_id=org["id"])
    user["user_fields"]["plan"] = "ent"
    item = make_item(
        tenant,
        connection,
        name="Customers",
        helpdesk_object="user",
        display_fields=["name", "email", "organization.name", "user_field:plan"],
    )

    link = link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(user["id"]))

    assert link.preview["title"] == "Peter Gibbons"
    assert link.preview["url"] == f"{zendesk.base_url(ZD_SUBDOMAIN)}/agent/users/{user['id']}"
    assert values_by_id(link.preview) == {
        "name": "Peter Gibbons",
        "email": "peter@initech.test",
        "organization.name": "Initech",
        "user_field:plan": "Enterprise plan",
    }


def test_organization_preview_shows_organization_field_labels(tenant, connection, issue, zendesk, project):
    zendesk.add_organization_field(ZD_SUBDOMAIN, "tier", "Tier", "dropdown", options=[("Gold tier", "gold")])
    org = zendesk.add_organization(ZD_SUBDOMAIN, name="Umbrella", domain_names=["umbrella.test"])
    org["organization_fields"]["tier"] = "gold"
    item = make_item(
        tenant,
        connection,
        name="Organizations",
        helpdesk_object="organization",
        display_fields=["name", "domain_names", "organization_field:tier"],
    )

    link = link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(org["id"]))

    assert link.preview["title"] == "Umbrella"
    assert link.preview["url"] == f"{zendesk.base_url(ZD_SUBDOMAIN)}/agent/organizations/{org['id']}"
    assert values_by_id(link.preview) == {
        "name": "Umbrella",
        "domain_names": "umbrella.test",
        "organization_field:tier": "Gold tier",
    }


# --- link_refresh ---------------------------------------------------------------------------------------


def test_refresh_pulls_the_record_live_and_stores_the_new_preview(tenant, item, issue, ticket, zendesk):
    link = link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    first_stamp = link.preview_updated_at
    zendesk.accounts[ZD_SUBDOMAIN].tickets[ticket["id"]].update(status="pending", priority="low", subject="Now smoking")

    link_refresh(tenant=tenant, link=link_get(tenant=tenant, link_id=link.pk))

    stored = Link.objects.get(pk=link.pk)
    assert values_by_id(stored.preview) == {"status": "pending", "priority": "Low"}
    assert stored.preview["title"] == f"#{ticket['id']} Now smoking"
    assert stored.preview_updated_at > first_stamp


def test_refresh_of_a_deleted_record_keeps_the_old_preview(tenant, item, issue, ticket, zendesk):
    link = link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    del zendesk.accounts[ZD_SUBDOMAIN].tickets[ticket["id"]]

    with pytest.raises(RecordNotFound):
        link_refresh(tenant=tenant, link=link)

    stored = Link.objects.get(pk=link.pk)
    assert values_by_id(stored.preview) == {"status": "open", "priority": "High"}


def test_refresh_refuses_another_tenants_link(tenant, item, issue, ticket, stranger):
    link = link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    with pytest.raises(ValueError):
        link_refresh(tenant=stranger, link=link)
    with pytest.raises(ValueError):
        link_delete(tenant=stranger, link=link)
    assert Link.objects.filter(pk=link.pk).exists()


# --- link_delete --------------------------------------------------------------------------------------


def test_unlink_removes_the_link_and_lowers_the_badge(tenant, connection, item, issue, ticket, jira, zendesk, project):
    second = zendesk.add_ticket(ZD_SUBDOMAIN, subject="Second")
    a = link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))
    b = link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(second["id"]))
    assert badge(jira, issue["id"])["value"]["label"] == "2"

    link_delete(tenant=tenant, link=a)

    assert list(Link.objects.values_list("pk", flat=True)) == [b.pk]
    assert badge(jira, issue["id"]) == {"type": "badge", "value": {"label": "1"}}
    item.refresh_from_db()
    assert item.linked_count == 1

    link_delete(tenant=tenant, link=b)
    assert badge(jira, issue["id"]) == {"type": "badge", "value": {"label": "0"}}
    item.refresh_from_db()
    assert item.linked_count == 0


def test_an_auto_link_cannot_be_removed_by_hand(tenant, item, issue, ticket, jira):
    link = Link.objects.create(
        tenant=tenant,
        item=item,
        jira_issue_id=issue["id"],
        jira_issue_key="SUP-1",
        record_id=str(ticket["id"]),
        origin=Link.Origin.AUTO,
    )
    with pytest.raises(AutoManagedLink) as caught:
        link_delete(tenant=tenant, link=link)
    assert caught.value.code == "auto_managed_link" and caught.value.status_code == 403
    assert Link.objects.filter(pk=link.pk).exists()
    assert badge(jira, issue["id"]) is None

    link_delete(tenant=tenant, link=link, allow_auto=True)  # sync itself may
    assert not Link.objects.filter(pk=link.pk).exists()
    assert badge(jira, issue["id"]) == {"type": "badge", "value": {"label": "0"}}


# --- selectors ----------------------------------------------------------------------------------------


def _raw_link(tenant, item, issue_id, record_id, key="SUP-1"):
    return Link.objects.create(
        tenant=tenant, item=item, jira_issue_id=str(issue_id), jira_issue_key=key, record_id=str(record_id)
    )


def test_cards_query_groups_links_by_item_and_keeps_empty_items(tenant, connection, item, project):
    other_item = make_item(tenant, connection, name="Other")
    empty_item = make_item(tenant, connection, name="Empty")
    a = _raw_link(tenant, item, "100", "1")
    b = _raw_link(tenant, other_item, "100", "2")
    c = _raw_link(tenant, item, "100", "3")
    _raw_link(tenant, item, "200", "4", key="SUP-2")  # another issue

    rows = card_items_for_project(tenant=tenant, project_id=project["id"], issue_id="100")

    assert {row.id: [link.id for link in row.links] for row in rows} == {
        item.pk: [a.pk, c.pk],
        other_item.pk: [b.pk],
        empty_item.pk: [],
    }
    assert card_items_for_project(tenant=tenant, project_id="99999", issue_id="100") == []


def test_links_query_filters_by_ticket_and_issue_in_id_order(tenant, connection, item, project):
    other_item = make_item(tenant, connection, name="Other")
    a = _raw_link(tenant, item, "100", "1")
    b = _raw_link(tenant, item, "200", "1", key="SUP-2")
    c = _raw_link(tenant, item, "100", "2")
    _raw_link(tenant, other_item, "100", "1")

    assert list(links_query(tenant=tenant, item=item)) == [a, b, c]
    assert list(links_query(tenant=tenant, item=item, ticket_id="1")) == [a, b]
    assert list(links_query(tenant=tenant, item=item, issue_id="100")) == [a, c]
    assert list(links_query(tenant=tenant, item=item, ticket_id="1", issue_id="200")) == [b]
    assert link_find(tenant=tenant, item=item, record_id="2", issue_id="100") == c
    assert link_find(tenant=tenant, item=item, record_id="2", issue_id="200") is None


def test_selectors_never_cross_tenants(tenant, item, stranger):
    link = _raw_link(tenant, item, "100", "1")

    assert link_get(tenant=tenant, link_id=link.pk) == link
    assert link_get(tenant=stranger, link_id=link.pk) is None
    assert link_find(tenant=stranger, item=item, record_id="1", issue_id="100") is None
    assert list(links_query(tenant=stranger, item=item)) == []
    assert card_items_for_project(tenant=stranger, project_id=item.jira_project_id, issue_id="100") == []
    assert issue_link_count(tenant=tenant, issue_id="100") == 1
    assert issue_link_count(tenant=stranger, issue_id="100") == 0


# --- deleting an item corrects the badges of its issues --------------------------------------------------


def _badge(jira, issue_id):
    from sync.services import badge_property_key

    return jira.properties[(issue_id, badge_property_key())]["value"]["label"]


def test_deleting_an_item_corrects_badges(
    tenant, connection, project, jira, zendesk, django_capture_on_commit_callbacks
):
    from connector.models import ConnectedItem
    from connector.services import ItemSpec, connected_item_save
    from sync.services import item_delete, link_create

    a, _ = connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(name="A", mode="display", jira_project="SUP", helpdesk_object="ticket"),
    )
    b, _ = connected_item_save(
        tenant=tenant,
        connection=connection,
        spec=ItemSpec(name="B", mode="display", jira_project="SUP", helpdesk_object="ticket"),
    )
    issue = jira.add_issue(key="SUP-1")
    t1 = zendesk.add_ticket("acme", subject="one")
    t2 = zendesk.add_ticket("acme", subject="two")
    link_create(tenant=tenant, item=a, issue_id=issue["id"], issue_key="SUP-1", record_id=str(t1["id"]))
    link_create(tenant=tenant, item=b, issue_id=issue["id"], issue_key="SUP-1", record_id=str(t2["id"]))
    assert _badge(jira, issue["id"]) == "2"
    with django_capture_on_commit_callbacks(execute=True):
        item_delete(tenant=tenant, item=ConnectedItem.objects.get(pk=a.pk))
    assert _badge(jira, issue["id"]) == "1"


def test_badge_refresh_reschedules_on_rate_limit(tenant, jira):
    from django_q.models import Schedule

    from sync.tasks import badges_refresh

    jira.add_issue(key="SUP-1")
    jira.fail_next(429, b"", {"Retry-After": "30"}, path="/properties/")
    result = badges_refresh(tenant.pk, ["10000", "10001"])
    assert result.startswith("halted") and "2 badge(s) rescheduled" in result
    schedule = Schedule.objects.get(func="sync.tasks.badges_refresh")
    assert schedule.schedule_type == Schedule.ONCE and "10001" in schedule.args
