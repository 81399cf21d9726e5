"""Each echo and exactly-once guard of the push engine on its own: with the others out of the way, the
guard alone keeps the write from happening."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sync.descriptor import SOURCE_PROPERTY
from sync.engine import state_pass_begin, state_save
from sync.inbox import RECONCILE, synthetic_event
from sync.models import AttachmentMap, CommentMap, IssueState, Link, SyncRun, WebhookEvent
from sync.push import issue_events_process
from tests.conftest import ZD_SUBDOMAIN
from tests.sync.test_push import comments, deliver, process, two_way  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def _queue_pass(tenant, issue):
    """An inbox event with no actor (as the reconcile makes), so only the comment/file guards decide."""
    synthetic_event(
        tenant_id=tenant.pk, issue_id=str(issue["id"]), issue_key=issue["key"], kind=RECONCILE, key=str(timezone.now())
    )


def _zendesk_texts(zendesk, two_way):  # noqa: F811
    return [c["plain_body"] for c in comments(zendesk, two_way)]


def test_a_comment_by_our_app_account_is_not_copied(tenant, jira, zendesk, two_way):  # noqa: F811
    jira.user_comment(two_way["issue"], "Written by the app.", account_id=jira.app_account_id)
    jira.webhooks_take()
    _queue_pass(tenant, two_way["issue"])
    process(tenant, two_way["issue"])
    assert not any("Written by the app." in t for t in _zendesk_texts(zendesk, two_way))
    assert not CommentMap.objects.filter(source_side="jira").exists()


def test_a_comment_carrying_our_source_property_is_not_copied(tenant, jira, zendesk, two_way):  # noqa: F811
    comment = jira.user_comment(two_way["issue"], "Copied from Zendesk earlier.")
    jira.comment_properties[comment["id"]] = {SOURCE_PROPERTY: {"key": "zendesk:comment:1"}}
    jira.webhooks_take()
    _queue_pass(tenant, two_way["issue"])
    process(tenant, two_way["issue"])
    assert not any("Copied from Zendesk earlier." in t for t in _zendesk_texts(zendesk, two_way)), comment


def test_a_comment_the_map_says_we_made_from_zendesk_is_not_copied(tenant, jira, zendesk, two_way):  # noqa: F811
    comment = jira.user_comment(two_way["issue"], "Mapped from Zendesk.")
    CommentMap.objects.create(
        tenant=tenant, link=two_way["link"], source_side="helpdesk", source_id="555", target_id=str(comment["id"])
    )
    jira.webhooks_take()
    _queue_pass(tenant, two_way["issue"])
    process(tenant, two_way["issue"])
    assert not any("Mapped from Zendesk." in t for t in _zendesk_texts(zendesk, two_way))


def test_a_comment_made_before_the_link_is_not_copied(tenant, jira, zendesk, two_way):  # noqa: F811
    jira.user_comment(two_way["issue"], "Old history.")
    Link.objects.filter(pk=two_way["link"].pk).update(created_at=timezone.now() + timedelta(hours=1))
    jira.webhooks_take()
    _queue_pass(tenant, two_way["issue"])
    process(tenant, two_way["issue"])
    assert not any("Old history." in t for t in _zendesk_texts(zendesk, two_way))


def test_files_by_our_app_or_copied_from_zendesk_are_not_sent_back(tenant, jira, zendesk, two_way):  # noqa: F811
    jira.user_attach(two_way["issue"], "by-app.txt", b"a", account_id=jira.app_account_id)
    copied = jira.user_attach(two_way["issue"], "from-zendesk.txt", b"b")
    AttachmentMap.objects.create(
        tenant=tenant, link=two_way["link"], source_side="helpdesk", source_id="9", target_id=str(copied["id"])
    )
    jira.webhooks_take()
    _queue_pass(tenant, two_way["issue"])
    process(tenant, two_way["issue"])
    assert not any(c["attachments"] for c in comments(zendesk, two_way))
    assert not jira.media_downloads


def test_a_dead_workers_issue_lease_is_taken_over_at_once(client, tenant, jira, zendesk, two_way):  # noqa: F811
    import socket

    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    IssueState.objects.create(
        tenant=tenant,
        jira_issue_id=str(two_way["issue"]["id"]),
        lease_owner=f"{socket.gethostname()[:30]}:999999:dead",  # this machine, no such process
        lease_expires_at=timezone.now() + timedelta(seconds=60),
    )
    assert issue_events_process(tenant_id=tenant.pk, issue_id=str(two_way["issue"]["id"])).startswith("done")


def test_the_reconcile_leaves_young_changes_to_their_webhook(settings, tenant, jira, zendesk, two_way):  # noqa: F811
    from sync.engine import connection_poll

    settings.SYNC_RECONCILE_GRACE_SECONDS = 3600
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    jira.webhooks_take()
    run = connection_poll(connection_id=two_way["item"].connection_id)
    assert run.counts["reconciled"] == 0 and not WebhookEvent.objects.exists()


def test_the_reconcile_skips_an_issue_whose_events_are_pending(client, tenant, jira, zendesk, two_way):  # noqa: F811
    from sync.engine import connection_poll

    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)  # stored, not yet processed
    jira.advance(5)
    run = connection_poll(connection_id=two_way["item"].connection_id)
    assert run.counts["reconciled"] == 0
    assert WebhookEvent.objects.filter(event_type=RECONCILE).count() == 0


def test_pull_and_push_passes_on_one_link_keep_each_others_state(two_way):  # noqa: F811
    """Both engines read the link, change different keys, and save: neither loses the other's."""
    pull = Link.objects.get(pk=two_way["link"].pk)
    push = Link.objects.get(pk=two_way["link"].pk)
    pull_state, push_state = state_pass_begin(pull), state_pass_begin(push)
    pull_state["summary"] = "pull-hash"
    push_state["hd:priority"] = "push-hash"
    pull.field_state, push.field_state = pull_state, push_state
    state_save(pull)
    state_save(push)
    assert Link.objects.get(pk=two_way["link"].pk).field_state == {"summary": "pull-hash", "hd:priority": "push-hash"}
    # A key one pass removes is removed; the other's stays.
    push_state = state_pass_begin(push)
    push_state.pop("hd:priority")
    push.field_state = push_state
    state_save(push)
    assert Link.objects.get(pk=two_way["link"].pk).field_state == {"summary": "pull-hash"}


def test_a_webhook_run_is_in_the_runs_api(api, client, tenant, jira, zendesk, two_way):  # noqa: F811
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    process(tenant, two_way["issue"])
    runs = api.get("/api/v1/runs").json()
    rows = runs["results"] if isinstance(runs, dict) else runs
    webhook = [r for r in rows if r["trigger"] == SyncRun.Trigger.WEBHOOK]
    assert webhook and webhook[0]["outcome"] == "success"


def test_zendesk_ticket_not_touched_when_nothing_mapped_changed(tenant, jira, zendesk, two_way):  # noqa: F811
    jira.webhooks_take()
    _queue_pass(tenant, two_way["issue"])
    process(tenant, two_way["issue"])
    writes = zendesk.accounts[ZD_SUBDOMAIN].ticket_updates[two_way["ticket"]["id"]]
    _queue_pass(tenant, two_way["issue"])
    process(tenant, two_way["issue"])
    assert zendesk.accounts[ZD_SUBDOMAIN].ticket_updates[two_way["ticket"]["id"]] == writes


def test_an_admin_retry_touches_only_its_own_sites_events(tenant, two_way):  # noqa: F811
    from sync.push import events_retry
    from tenants.models import Tenant

    other = Tenant.objects.create(client_key="other-site", app_key="k", base_url="https://other.atlassian.net")
    event = WebhookEvent.objects.create(
        tenant=tenant, delivery_id="d", event_type="jira:issue_updated", issue_id="1", status=WebhookEvent.Status.FAILED
    )
    assert events_retry(tenant_id=other.pk, event_ids=[event.pk]) == 0
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.FAILED


def test_the_dispatchers_sweep_requeues_waiting_events_unless_a_worker_holds_the_issue(
    client,
    tenant,
    jira,
    zendesk,
    two_way,  # noqa: F811
):
    from sync.push import pending_sweep

    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    WebhookEvent.objects.update(process_after=timezone.now() - timedelta(minutes=5))
    state = IssueState.objects.create(
        tenant=tenant,
        jira_issue_id=str(two_way["issue"]["id"]),
        lease_owner="another-host:1:abc",
        lease_expires_at=timezone.now() + timedelta(seconds=60),
    )
    assert pending_sweep() == 0  # a live worker has it
    import socket

    dead = f"{socket.gethostname()[:30]}:999999:dead"  # a worker of this machine that is gone
    IssueState.objects.filter(pk=state.pk).update(lease_owner=dead)
    assert pending_sweep() == 1  # (the test settings run the queued task at once)
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.DONE
    WebhookEvent.objects.update(status=WebhookEvent.Status.PENDING)
    IssueState.objects.filter(pk=state.pk).update(
        lease_owner="another-host:1:abc", lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert pending_sweep() == 1  # an expired lease
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.DONE


def test_taking_over_a_dead_workers_issue_closes_the_runs_it_left_open(client, tenant, jira, zendesk, two_way):  # noqa: F811
    import socket

    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    left = SyncRun.objects.create(tenant=tenant, connection=two_way["item"].connection, trigger=SyncRun.Trigger.WEBHOOK)
    other = SyncRun.objects.create(
        tenant=tenant, connection=two_way["item"].connection, trigger=SyncRun.Trigger.WEBHOOK
    )
    IssueState.objects.create(
        tenant=tenant,
        jira_issue_id=str(two_way["issue"]["id"]),
        lease_owner=f"{socket.gethostname()[:30]}:999999:dead",
        lease_expires_at=timezone.now() + timedelta(seconds=60),
        lease_runs=[left.pk],
    )
    assert issue_events_process(tenant_id=tenant.pk, issue_id=str(two_way["issue"]["id"])).startswith("done")
    left.refresh_from_db()
    other.refresh_from_db()
    assert left.outcome == SyncRun.Outcome.FAILED and "stopped before it finished" in left.reason
    assert other.outcome == SyncRun.Outcome.RUNNING  # another worker's run is not touched
    assert IssueState.objects.get().lease_runs == []


def test_a_pending_comment_is_not_matched_by_a_copy_of_a_longer_comment_id(zendesk, connection):
    """``focusedCommentId=1001`` names comment 1001, not a copy of 10012."""
    from connector.clients.zendesk import ZendeskClient
    from connector.providers import provider_for
    from tests.conftest import ZD_EMAIL, ZD_TOKEN

    ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject="x")
    api = ZendeskClient(subdomain=ZD_SUBDOMAIN, email=ZD_EMAIL, api_token=ZD_TOKEN)
    api.ticket_update(
        ticket["id"], {"comment": {"html_body": '<a href="https://j/browse/A-1?focusedCommentId=10012">x</a>'}}
    )
    provider = provider_for("zendesk")
    assert (
        provider.agent_comment_find(api, "ticket", str(ticket["id"]), connection.agent_id, "focusedCommentId=1001")
        is None
    )
    found = provider.agent_comment_find(api, "ticket", str(ticket["id"]), connection.agent_id, "focusedCommentId=10012")
    assert found is not None
