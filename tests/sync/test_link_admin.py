"""Links removed by staff in the Django admin (one at a time or as a bulk action) are unlinked like an unlink
in Jira: links made by sync too, and the item's linked count and the issue's badge are kept true."""

from __future__ import annotations

import pytest

from sync.models import Link
from sync.services import link_create
from tests.conftest import ZD_SUBDOMAIN
from tests.sync.test_links import badge, make_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked(tenant, connection, project, jira, zendesk):
    item = make_item(tenant, connection)
    issue = jira.add_issue(key="SUP-1", summary="Printer is on fire")
    links = []
    for subject in ("Printer on fire", "Toner everywhere"):
        ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject=subject, status="open")
        link = link_create(
            tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]), actor="t"
        )
        links.append(link)
    Link.objects.filter(pk=links[0].pk).update(origin=Link.Origin.AUTO)  # made by sync
    item.refresh_from_db()
    assert item.linked_count == 2 and badge(jira, issue["id"])["value"]["label"] == "2"
    return item, issue, links


def test_deleting_a_link_in_the_django_admin_keeps_the_count_and_badge_true(admin_client, jira, linked):
    item, issue, (auto, _manual) = linked
    response = admin_client.post(f"/admin/sync/link/{auto.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Link.objects.filter(pk=auto.pk).exists()  # made by sync, removed by staff all the same
    item.refresh_from_db()
    assert item.linked_count == 1 and badge(jira, issue["id"])["value"]["label"] == "1"


def test_the_bulk_delete_action_unlinks_each_link(admin_client, jira, linked):
    item, issue, links = linked
    response = admin_client.post(
        "/admin/sync/link/",
        {"action": "delete_selected", "_selected_action": [str(link.pk) for link in links], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Link.objects.filter(item=item).exists()
    item.refresh_from_db()
    assert item.linked_count == 0 and badge(jira, issue["id"])["value"]["label"] == "0"
