"""Rate limits are waited out by rescheduling, never by sleeping (issue 12, "Upsert rules"): the run a rate
limit stopped says so and records the wait it was asked for (``rate_limited_wait_s``), and the run after the
wait says how long it waited (``waited_s``) — for the pull engine's polls and the push engine's batches
alike, in the admin page's runs view; the fakes' rate-limit switches stand in for the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sync.engine import connection_poll, link_pass, seconds_words
from sync.models import SyncEvent, SyncRun, WebhookEvent
from tests.panel.conftest import AdminPage, page_text
from tests.sync.test_push import deliver, process, two_way  # noqa: F401  (two_way: the fixture)

pytestmark = pytest.mark.django_db


def _poll(connection) -> SyncRun:
    return connection_poll(connection_id=connection.pk)


def _earlier(run: SyncRun, seconds: int) -> None:
    """As if ``run`` had ended ``seconds`` ago (the dispatcher held the next poll back that long)."""
    SyncRun.objects.filter(pk=run.pk).update(finished_at=run.finished_at - timedelta(seconds=seconds))


def test_a_rate_limited_poll_says_so_and_the_next_one_says_how_long_it_waited(
    client,
    tenant,
    connection,
    jira,
    zendesk,
    two_way,  # noqa: F811
):
    zendesk.rate_limit_next(1, retry_after=60)

    limited = _poll(connection)

    assert limited.outcome == SyncRun.Outcome.HALTED
    assert limited.reason == "Rate limited by Zendesk: retrying in 60 s."
    assert limited.counts["rate_limited_wait_s"] == 60 and limited.counts["waited_s"] == 0

    _earlier(limited, 75)
    after = _poll(connection)

    assert after.outcome == SyncRun.Outcome.SUCCESS
    waited = after.counts["waited_s"]
    assert 75 <= waited < 120 and after.counts["rate_limited_wait_s"] == 0
    assert after.reason == f"Ran after waiting {waited} s for a rate limit."
    assert _poll(connection).reason == ""  # the one after that waited for nothing

    # The admin page's runs view says both in words, not as counters.
    text = page_text(AdminPage(client, jira).open())
    assert "Rate limited by Zendesk: retrying in 60 s." in text
    assert f"Ran after waiting {waited} s for a rate limit." in text
    assert "rate limited wait" not in text and "waited s" not in text


def test_a_jira_rate_limit_during_a_poll_names_jira(connection, jira, zendesk, two_way):  # noqa: F811
    jira.rate_limit_next(1, retry_after=7)

    run = _poll(connection)

    assert (run.outcome, run.reason) == (SyncRun.Outcome.HALTED, "Rate limited by Jira: retrying in 7 s.")
    assert run.counts["rate_limited_wait_s"] == 7


def test_a_zoho_credit_limit_says_the_wait_in_hours_or_minutes(zoho_connection, zoho, jira):
    from tests.zoho.test_zoho_sync import zitem

    zitem(zoho_connection.tenant, zoho_connection)
    zoho.threshold_exceeded_next(zoho.org.id)  # Retry-After: until the next UTC day of the fake's clock

    run = _poll(zoho_connection)

    wait = run.counts["rate_limited_wait_s"]
    assert run.outcome == SyncRun.Outcome.HALTED and wait > 0
    assert run.reason == (
        f"Rate limited by Zoho Desk: retrying in {seconds_words(wait)}. Zoho Desk's daily API credits of this "
        "organization are spent (THRESHOLD_EXCEEDED); they renew tomorrow."
    )
    zoho.too_many_requests_next(org_id=zoho.org.id)  # too many calls in flight: no Retry-After, a moment
    assert _poll(zoho_connection).reason == "Rate limited by Zoho Desk: retrying in 10 s."


def test_waits_are_said_in_seconds_with_minutes_or_hours_when_long():
    assert [seconds_words(s) for s in (60, 119, 120, 900, 7199, 7200, 43200)] == [
        "60 s",
        "119 s",
        "120 s (about 2 min)",
        "900 s (about 15 min)",
        "7199 s (about 120 min)",
        "7200 s (about 2 h)",
        "43200 s (about 12 h)",
    ]


def test_a_rate_limited_push_says_so_on_its_run_and_links_and_the_batch_after_the_wait_says_how_long(
    client,
    tenant,
    connection,
    jira,
    zendesk,
    two_way,  # noqa: F811
):
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    zendesk.rate_limit_next(1, retry_after=30)

    assert process(tenant, two_way["issue"]) == "rate limited: retry in 30 s"

    limited = SyncRun.objects.get(trigger=SyncRun.Trigger.WEBHOOK)
    assert (limited.outcome, limited.reason) == (SyncRun.Outcome.HALTED, "Rate limited by Zendesk: retrying in 30 s.")
    assert limited.counts["rate_limited_wait_s"] == 30
    (note,) = SyncEvent.objects.filter(run=limited, action="rate_limited")
    assert (note.link_id, note.result) == (two_way["link"].pk, SyncEvent.Result.SKIPPED)
    assert note.message == "SUP-1: Rate limited by Zendesk: retrying in 30 s."
    assert WebhookEvent.objects.get().last_error == limited.reason

    # A poll of the connection meanwhile is not the push's run after the wait.
    assert _poll(connection).reason == ""

    SyncEvent.objects.filter(pk=note.pk).update(created_at=note.created_at - timedelta(seconds=40))
    WebhookEvent.objects.update(process_after=timezone.now())
    assert process(tenant, two_way["issue"]).startswith("done")

    after = SyncRun.objects.filter(trigger=SyncRun.Trigger.WEBHOOK).latest("id")
    waited = after.counts["waited_s"]
    assert after.outcome == SyncRun.Outcome.SUCCESS and 40 <= waited < 90
    assert after.reason == f"Ran after waiting {waited} s for a rate limit."
    (sent,) = SyncEvent.objects.filter(run=after, action="rate_limited")
    assert sent.result == SyncEvent.Result.OK
    assert sent.message == f"SUP-1: sent after waiting {waited} s for a rate limit."

    # The next change went without waiting: its run says nothing of the earlier wait.
    jira.user_edit(two_way["issue"], {"priority": {"name": "Low"}})
    deliver(client, jira)
    assert process(tenant, two_way["issue"]).startswith("done")
    last = SyncRun.objects.filter(trigger=SyncRun.Trigger.WEBHOOK).latest("id")
    assert (last.reason, last.counts["waited_s"]) == ("", 0)


def test_a_service_asking_to_wait_with_a_503_is_said_in_its_words(client, tenant, jira, zendesk, two_way):  # noqa: F811
    jira.user_edit(two_way["issue"], {"priority": {"name": "High"}})
    deliver(client, jira)
    jira.fail_next(503, {"errorMessages": ["Busy"]}, {"Retry-After": "20"}, path=rf"/issue/{two_way['issue']['id']}$")

    assert process(tenant, two_way["issue"]) == "rate limited: retry in 20 s"

    run = SyncRun.objects.get(trigger=SyncRun.Trigger.WEBHOOK)
    assert run.reason == "Jira asked to wait (Jira answered HTTP 503: Busy): retrying in 20 s."
    assert run.counts["rate_limited_wait_s"] == 20


def test_a_rate_limited_refresh_says_to_try_again_since_nothing_retries_it(zendesk, two_way):  # noqa: F811
    zendesk.rate_limit_next(1, retry_after=45)

    run = link_pass(link_id=two_way["link"].pk)

    assert run.outcome == SyncRun.Outcome.HALTED
    assert run.reason == "Rate limited by Zendesk: nothing more was synced; try again in 45 s."
    assert run.counts["rate_limited_wait_s"] == 45
