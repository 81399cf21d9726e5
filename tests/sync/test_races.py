"""Races that would lose data: the issue badge and the item's linked count under concurrent link changes, two
PATCHes of one item at once, and rows that name another tenant's rows (refused by the database)."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connections, transaction
from django.test import Client

from connector.models import ConnectedItem, HelpdeskConnection
from sync.models import Link
from tests.conftest import ZD_SUBDOMAIN, postgres_only
from tests.panel.links_helpers import badge, badge_of, install_second_tenant, make_item, raw_link

pytestmark = pytest.mark.django_db


def _in_thread(target, *args, name=None):
    errors = []

    def run():
        try:
            target(*args)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread, errors


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_late_badge_write_is_corrected(tenant, connection, project, jira, zendesk, monkeypatch):
    """A counts 1 link and stalls; B links a second ticket and writes 2; A's late write of 1 must not
    stay: A reads the count again after writing and writes 2."""
    from sync import services
    from sync.services import link_create

    item = make_item(tenant, connection)
    issue = jira.add_issue(key="SUP-1")
    first, second = (zendesk.add_ticket(ZD_SUBDOMAIN, subject=s) for s in ("one", "two"))
    a_counted, b_done = threading.Event(), threading.Event()
    real_count = services.issue_link_count
    stalled = []

    def count(**kw):
        value = real_count(**kw)
        if threading.current_thread().name == "A" and not stalled:
            stalled.append(value)
            a_counted.set()
            assert b_done.wait(20)
        return value

    monkeypatch.setattr(services, "issue_link_count", count)

    def make(ticket):
        link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key="SUP-1", record_id=str(ticket["id"]))

    thread_a, errors_a = _in_thread(make, first, name="A")
    assert a_counted.wait(20)
    thread_b, errors_b = _in_thread(make, second)
    thread_b.join(20)
    b_done.set()
    thread_a.join(20)
    assert errors_a == errors_b == []
    assert stalled == [1]
    assert badge(jira, issue["id"]) == badge_of(2)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_links_keep_the_linked_count_exact(tenant, connection, project, jira, zendesk):
    from sync.services import link_create

    item = make_item(tenant, connection)
    jira.add_latency(0.05)  # every link's Jira calls overlap the others'
    issues = [jira.add_issue(key=f"SUP-{n}") for n in range(1, 7)]
    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="shared")
    barrier = threading.Barrier(len(issues))

    def make(issue):
        barrier.wait()
        link_create(tenant=tenant, item=item, issue_id=issue["id"], issue_key=issue["key"], record_id=str(ticket["id"]))

    started = [_in_thread(make, issue) for issue in issues]
    for thread, _ in started:
        thread.join(30)
    assert [e for _, errors in started for e in errors] == []
    assert Link.objects.filter(item=item).count() == 6
    assert ConnectedItem.objects.get(pk=item.pk).linked_count == 6


def test_the_linked_count_is_computed_by_the_database(tenant, connection, project):
    """One UPDATE with a subquery: no Python count that a concurrent change could make stale."""
    from django.test.utils import CaptureQueriesContext

    from sync.services import item_linked_count_refresh

    item = make_item(tenant, connection)
    raw_link(tenant, item, "10001", "1")
    raw_link(tenant, item, "10002", "2")
    with CaptureQueriesContext(connections["default"]) as queries:
        item_linked_count_refresh(item=item)
    assert len(queries) == 1 and queries[0]["sql"].lstrip().upper().startswith("UPDATE")
    assert ConnectedItem.objects.get(pk=item.pk).linked_count == 2


def test_two_patches_at_once_both_land(api, tenant, connection, project, monkeypatch):
    """PATCH A (name) merges onto the item, then B (link note) lands before A writes: A must not write
    B's old value back — it merges again onto B's result."""
    from connector.services import items as item_services

    item = make_item(tenant, connection)
    real_check = item_services._check
    interleaved = []

    def check(**kw):
        result = real_check(**kw)
        if kw["spec"].name == "renamed" and not interleaved:
            interleaved.append(True)
            assert (
                Client()
                .patch(
                    f"/api/v1/items/{item.pk}",
                    data='{"link_note": true}',
                    content_type="application/json",
                    HTTP_AUTHORIZATION=api.headers["HTTP_AUTHORIZATION"],
                )
                .status_code
                == 200
            )
        return result

    monkeypatch.setattr(item_services, "_check", check)
    response = api.patch(f"/api/v1/items/{item.pk}", {"name": "renamed"})
    assert response.status_code == 200, response.content
    assert interleaved == [True]
    item.refresh_from_db()
    assert item.name == "renamed" and item.link_note is True


def test_a_patch_that_keeps_losing_says_so(api, tenant, connection, project, monkeypatch):
    from connector.services import items as item_services

    item = make_item(tenant, connection)
    real_check = item_services._check

    def check(**kw):
        result = real_check(**kw)
        other = ConnectedItem.objects.get(pk=item.pk)  # another admin saves in between, every time
        other.link_note = not other.link_note
        other.save()
        return result

    monkeypatch.setattr(item_services, "_check", check)
    response = api.patch(f"/api/v1/items/{item.pk}", {"name": "renamed"})
    assert response.status_code == 409 and response.json()["code"] == "item_changed"
    assert ConnectedItem.objects.get(pk=item.pk).name == "Support tickets"


@postgres_only
def test_the_database_refuses_a_link_to_another_tenants_item(
    client, settings, install_keys, zendesk, tenant, connection, project
):
    bravo = install_second_tenant(client, settings, install_keys, zendesk)
    try:
        item = make_item(tenant, connection)
        with pytest.raises(IntegrityError), transaction.atomic():
            with connections["default"].cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            Link.objects.create(tenant=bravo.tenant, item=item, jira_issue_id="1", jira_issue_key="X-1", record_id="1")
        with pytest.raises(IntegrityError), transaction.atomic():
            with connections["default"].cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            ConnectedItem.objects.filter(pk=item.pk).update(tenant=bravo.tenant)
        with pytest.raises(IntegrityError), transaction.atomic():
            with connections["default"].cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            ConnectedItem.objects.filter(pk=item.pk).update(
                connection=HelpdeskConnection.objects.get(tenant=bravo.tenant)
            )
    finally:
        bravo.jira.stop()
