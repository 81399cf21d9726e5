"""Two-way sync as a state machine: Hypothesis interleaves what people do on both sides (a Jira user edits,
moves, comments and attaches; a Zendesk colleague edits the ticket and comments, with files) with what the
machinery does (Jira's webhook deliveries, late, reordered, twice or lost; the push worker; the poll with its
reconcile, soon after the changes or after the grace; outages of either service; workers that die
mid-write), and checks after every step what a user would notice.

One example = one Jira issue linked to one fresh ticket through a two-way item: subject → summary (to Jira);
priority → priority and labels → tags (to Zendesk); status both ways by category; comments and files both
ways. The fakes and the database outlive the examples, so each example works on its own issue and ticket.

What the design guarantees, and so what is asserted:

1. Never a duplicate, never an echo (after every step). A Jira comment becomes at most one Zendesk comment
   (the copy links ``focusedCommentId=<id>``); a Zendesk comment becomes at most one Jira comment (the copy's
   ``deskbridge.source`` property says ``zendesk:comment:<id>``); a file is copied at most once each way. A
   copy is never copied back: no Zendesk comment or note points at a Jira comment or file our app account
   made, and no Jira comment or file comes from a Zendesk comment Deskbridge's agent wrote.
2. No write caused only by our own writes (after every step). Once the link is quiet (``settle``: every
   delivery in, every event processed, polls until a whole round writes nothing), Deskbridge writes to a side
   only after a person changed the other side: no Zendesk ticket update of ours (every one but the
   colleague's) until a Jira user changed the issue, no Jira edit, transition, comment or file until the
   colleague changed the ticket — whatever deliveries, push batches, polls and crashes come meanwhile. A
   settle still writing after six rounds is an echo loop, and fails too.
3. Both sides agree when quiet (``settle``, and at the end of every example). Fields go one way each, so
   last-writer-wins never arises for them: Zendesk priority == Jira priority as mapped (Highest → urgent,
   Medium → normal, …), Zendesk tags == Jira labels as tags (lower case, blanks to ``_``, each once), Jira
   summary == Zendesk subject. Status goes both ways by category, and when both sides moved between two
   syncs either may win, so only agreement is asserted: Jira's status category is the ticket status's
   category, or the ticket status is one the push accepts for Jira's category
   (``ZendeskProvider.PUSH_SATISFIED``: an ``open`` ticket satisfies a Jira "To Do", as a ticket never
   returns to ``new``). Every comment and file a person made after the link is on the other side exactly
   once, no inbox event is left pending or failed, and no sync event is an error.

Crashes simulated (a worker killed mid-write, then the machinery carries on): a push batch that died after
its Zendesk comment but before completing its map row and its events; a batch that died before marking its
events done; a poll that died after writing to Jira but before saving its page (cursor, comment stream,
reconcile mark and map rows as before that poll); issue and connection leases held by a dead process here.

Clocks: Zendesk's fake clock moves two minutes before each poll (its exports withhold the last minute). Jira's
is left alone: the reconcile compares Jira's ``updated`` with our own clock, and a Jira clock running ahead
would only defer the reconcile until real time caught up, which a test without sleeps never sees. The grace
is modelled instead: ``poll`` runs after the grace (0 s), ``poll_soon`` within it (every change is recent).
``time_passes`` moves every clock together, ours included (Jira's and Zendesk's fakes, ``timezone.now``): waits
and leases end, and the polls' search window moves on past changes older than the last reconcile.

Outages: the next request to Zendesk or Jira (or to the ticket, or the issue) may fail with a 5xx or a 429;
the run that meets it stops (a poll halts, a push batch is rescheduled) and ``settle`` ends the outage and
the waits it asked for before retrying.

Four engine bugs this machine found are fixed and kept as regression tests below (a status change within
the category last applied; a lost delivery hidden by our own events; a Jira status lost when the ticket
update carrying it failed; a lost comment hidden by the push of files, which read the issue's ``updated`` but
not its comments — see also ``test_lost_comment_regression``). ``DESKBRIDGE_STATE_MACHINE_EXAMPLES=500``
hunts longer, and ``DESKBRIDGE_STATE_MACHINE_STEPS=40`` tries longer stories (15 steps by default).
"""

from __future__ import annotations

import itertools
import os
import re
import socket
from collections import Counter
from datetime import timedelta
from typing import Any

import psutil
import pytest
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from connector.clients.base import ApiError
from connector.clients.zendesk import ZendeskClient
from connector.mapping import JIRA_PRIORITY_TO_ZENDESK, ZENDESK_STATUS_CATEGORY
from connector.models import ConnectedItem
from connector.providers.zendesk import ZendeskProvider
from sync.descriptor import SOURCE_PROPERTY
from sync.engine import connection_poll
from sync.models import AttachmentMap, CommentMap, IssueState, Link, SyncEvent, SyncState, WebhookEvent
from sync.push import issue_events_process
from tenants.descriptor import build_descriptor
from tests.conftest import ZD_SUBDOMAIN
from tests.panel.links_helpers import make_item, raw_link

pytestmark = pytest.mark.django_db

MACHINE_SETTINGS = hypothesis_settings(
    max_examples=int(os.environ.get("DESKBRIDGE_STATE_MACHINE_EXAMPLES", "40")),
    stateful_step_count=int(os.environ.get("DESKBRIDGE_STATE_MACHINE_STEPS", "15")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COLLEAGUE_EMAIL = "cole@acme.test"
COLLEAGUE_TOKEN = "zd-colleague-token-9876543210"
PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest"]
LABELS = ["vip", "VIP", "billing", "Printer Fire", "urgent"]
JIRA_STATUSES = ["To Do", "In Progress", "Done"]
TICKET_STATUSES = ["open", "pending", "solved"]  # never closed: a closed ticket ends the link
SUBJECTS = ["Printer on fire", "Printer still on fire", "Toner everywhere", "Fixed?"]
FOCUSED = re.compile(r"focusedCommentId=(\d+)")  # a Zendesk copy of a Jira comment links back to it
JIRA_FILE = re.compile(r"/secure/attachment/(\d+)/")  # … and a note with a Jira file to the file
ALL = {"count": 100, "reverse": False, "twice": False, "lost": []}


def _as_tags(labels: list[str]) -> list[str]:
    """Jira labels as the Zendesk tags the push writes (the fake stores tags sorted)."""
    return sorted({"_".join(str(label).split()).lower() for label in labels} - {""})


def _dead_owner() -> str:
    """A lease owner on this host whose process does not exist (a worker killed with kill -9)."""
    pid = next(p for p in range(4_194_303, 1_000_000, -1) if not psutil.pid_exists(p))
    return f"{socket.gethostname()[:30]}:{pid}:deadbeef"


@pytest.fixture
def two_way_sync(settings, monkeypatch, client, tenant, connection, project, jira, zendesk, admin_agent):
    """The state machine's class, bound to this test's fakes and tenant: one two-way item; an issue, a ticket
    and their link per example."""
    settings.SYNC_RECONCILE_GRACE_SECONDS = 0
    settings.JIRA_DOWNLOAD_ALLOWED_HOSTS = ["localhost"]  # the fakes' media hosts
    settings.HELPDESK_DOWNLOAD_ALLOWED_HOSTS = ["localhost"]
    item = make_item(
        tenant,
        connection,
        name="Two-way tickets",
        mode=ConnectedItem.Mode.TWO_WAY,
        jira_issue_type_id="10001",
        status_sync=True,
        comment_sync=True,
        attachment_sync=True,
        mappings=[
            {"helpdesk_field": "subject", "jira_field": "summary", "direction": "to_jira", "value_map": {}},
            {"helpdesk_field": "priority", "jira_field": "priority", "direction": "to_helpdesk", "value_map": {}},
            {"helpdesk_field": "tags", "jira_field": "labels", "direction": "to_helpdesk", "value_map": {}},
        ],
    )
    # A colleague of Deskbridge's agent, with an API token of their own: their updates are a person's.
    colleague = zendesk.add_agent(ZD_SUBDOMAIN, COLLEAGUE_EMAIL, COLLEAGUE_TOKEN, name="Cole League")
    colleague_api = ZendeskClient(subdomain=ZD_SUBDOMAIN, email=COLLEAGUE_EMAIL, api_token=COLLEAGUE_TOKEN)
    account = zendesk.accounts[ZD_SUBDOMAIN]
    agent_id = int(connection.agent_id)
    jira.webhooks_subscribe(build_descriptor())
    jira.webhooks_hold()
    numbers = itertools.count(1)
    # Our clock, moved on by ``time_passes`` together with the fakes' (so Jira's ``updated`` and the reconcile's
    # relative JQL window agree with it). Outbound JWTs keep real time, as the fakes check them on it.
    shift = [timedelta()]
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + shift[0])

    class TwoWaySync(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.broken = False  # a step raised: the final settle must not pile a second failure on it
            jira.webhooks_take()  # deliveries left over from the previous example
            Link.objects.filter(item=item).delete()  # their comment and file maps go with them
            WebhookEvent.objects.filter(tenant=tenant).delete()
            IssueState.objects.filter(tenant=tenant).delete()
            SyncState.objects.filter(connection=connection).update(lease_owner="", lease_expires_at=None)
            n = next(numbers)
            key = f"SUP-{n}"
            issue = jira.add_issue(key=key, summary=f"Printer {n} on fire", priority={"name": "Low"}, labels=[])
            self.issue_id = str(issue["id"])
            linked_at = timezone.now() - timedelta(seconds=1)  # Jira's stamps have millisecond precision
            ticket = zendesk.add_ticket(ZD_SUBDOMAIN, subject=f"Printer {n} on fire", priority="low", tags=[])
            self.ticket_id = ticket["id"]
            # The ticket existed before it was linked: its opening message is history, not a new comment.
            opening = account.comments[self.ticket_id][0]
            next(a for a in account.audits if a["comment"] is opening)["timestamp"] = int(linked_at.timestamp()) - 60
            self.link = raw_link(tenant, item, self.issue_id, self.ticket_id, key=key, created_at=linked_at)
            self.outages: Counter = Counter()  # per service
            self.backlog: list[dict[str, Any]] = []  # deliveries Jira sent that have not reached us yet
            self.colleague_updates = 0  # ticket updates the colleague made (the others are ours)
            # Sides a person changed since the link was last quiet (its first sync writes both ways).
            self.changed = {"jira": True, "zendesk": True}
            self.quiet_writes: dict[str, tuple[int, ...]] | None = None
            self.jira_comment_ids: list[str] = []  # what people made, to find on the other side when quiet
            self.jira_file_ids: list[str] = []
            self.zendesk_comment_ids: list[str] = []
            self.zendesk_files: list[str] = []
            self.poll_before: dict[str, Any] | None = None  # SyncState as it was before the last poll
            self.poll_rows: list[tuple[type, int]] = []  # Zendesk → Jira map rows that poll completed

        # --- what each side shows ---------------------------------------------------------------------------
        @property
        def issue(self) -> dict[str, Any]:
            return jira.issues[self.issue_id]["fields"]

        @property
        def ticket(self) -> dict[str, Any]:
            return account.tickets[self.ticket_id]

        def zendesk_comments(self) -> list[dict[str, Any]]:
            return account.comments[self.ticket_id]

        def jira_comments(self) -> list[dict[str, Any]]:
            return jira.comments.get(self.issue_id, [])

        def jira_files(self) -> list[dict[str, Any]]:
            return self.issue.get("attachment") or []

        def source_keys(self) -> list[str]:
            """The ``deskbridge.source`` keys of the Jira comments we made from Zendesk comments."""
            props = [jira.comment_properties.get(c["id"], {}) for c in self.jira_comments()]
            return [str((p[SOURCE_PROPERTY] or {}).get("key") or "") for p in props if SOURCE_PROPERTY in p]

        def our_writes(self) -> dict[str, tuple[int, ...]]:
            """Writes Deskbridge made, per side: Zendesk ticket updates (a comment is an update too); Jira
            edits, transitions, comments and files."""
            return {
                "zendesk": (account.ticket_updates[self.ticket_id] - self.colleague_updates,),
                "jira": (
                    sum(1 for e in jira.edits if e["issue"] == self.issue_id),
                    sum(1 for t in jira.transitions_done if t["issue"] == self.issue_id),
                    sum(1 for c in jira.comments_added if c["issue"] == self.issue_id),
                    sum(1 for f in self.jira_files() if f["author"]["accountId"] == jira.app_account_id),
                ),
            }

        # --- people ------------------------------------------------------------------------------------------
        @rule(
            priority=st.sampled_from([None, *PRIORITIES]),
            labels=st.none() | st.lists(st.sampled_from(LABELS), max_size=3),
        )
        def jira_edit(self, priority, labels):
            self.broken = True
            fields: dict[str, Any] = {} if priority is None else {"priority": {"name": priority}}
            if labels is not None:
                fields["labels"] = labels
            if fields and any(self.issue.get(f) != v for f, v in fields.items()):
                jira.user_edit(self.issue_id, fields)
                self.changed["jira"] = True

        @rule(status=st.sampled_from(JIRA_STATUSES))
        def jira_transition(self, status):
            self.broken = True
            if self.issue["status"]["name"] != status:
                jira.user_transition(self.issue_id, status)
                self.changed["jira"] = True

        @rule()
        def jira_comment(self):
            self.broken = True
            comment = jira.user_comment(self.issue_id, f"Jira says {next(numbers)}.")
            self.jira_comment_ids.append(str(comment["id"]))
            self.changed["jira"] = True

        @rule()
        def jira_attach(self):
            self.broken = True
            n = next(numbers)
            attachment = jira.user_attach(self.issue_id, f"jira-{n}.log", b"j" * (100 + n), "text/plain")
            self.jira_file_ids.append(str(attachment["id"]))
            self.changed["jira"] = True

        @rule(subject=st.sampled_from([None, *SUBJECTS]), status=st.sampled_from([None, *TICKET_STATUSES]))
        def zendesk_edit(self, subject, status):
            """The colleague changes the ticket through the API (an update that changes nothing included)."""
            self.broken = True
            body = {k: v for k, v in (("subject", subject), ("status", status)) if v is not None}
            if not body:
                return
            changed = any(self.ticket.get(k) != v for k, v in body.items())
            try:
                colleague_api.ticket_update(self.ticket_id, body)
            except ApiError:  # the outage meant for Deskbridge hit the colleague: their browser tries again
                colleague_api.ticket_update(self.ticket_id, body)
            self.colleague_updates += 1
            self.changed["zendesk"] = self.changed["zendesk"] or changed

        @rule(public=st.booleans(), with_file=st.booleans())
        def zendesk_comment(self, public, with_file):
            self.broken = True
            n = next(numbers)
            files = [(f"zendesk-{n}.txt", b"z" * (50 + n), "text/plain")] if with_file else []
            comment = zendesk.add_comment(
                ZD_SUBDOMAIN,
                self.ticket_id,
                f"Zendesk says {n}.",
                public=public,
                author_id=colleague["id"],
                attachments=files,
            )
            self.zendesk_comment_ids.append(str(comment["id"]))
            self.zendesk_files += [name for name, _, _ in files]
            self.changed["zendesk"] = True

        # --- the machinery -----------------------------------------------------------------------------------
        @rule(
            count=st.integers(1, 8),
            reverse=st.booleans(),
            twice=st.booleans(),
            lost=st.lists(st.booleans(), max_size=8),
        )
        def deliver(self, count, reverse, twice, lost):
            """Jira's deliveries reach our endpoint: the oldest ``count`` now (the others later), maybe in
            reverse, maybe each twice; those marked ``lost`` never (the reconcile must find their changes)."""
            self.broken = True
            self.backlog += jira.webhooks_take()
            batch, self.backlog = self.backlog[:count], self.backlog[count:]
            if reverse:
                batch.reverse()
            sent = [d for i, d in enumerate(batch) if not (i < len(lost) and lost[i])]
            for delivery in sent * (2 if twice else 1):
                headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in delivery["headers"].items()}
                headers.pop("HTTP_CONTENT_TYPE", None)
                answer = client.post(
                    delivery["path"], data=delivery["body"], content_type="application/json", **headers
                )
                assert answer.status_code == 204, answer.content

        @rule()
        def process(self):
            """The push worker runs the issue's due events (after an error: a retry later, or failed)."""
            self.broken = True
            outcome = issue_events_process(tenant_id=tenant.pk, issue_id=self.issue_id)
            assert not outcome.startswith(("failed", "busy")), outcome

        @rule(
            where=st.sampled_from(["zendesk ticket", "zendesk", "jira issue", "jira"]),
            status=st.sampled_from([500, 503, 429]),
        )
        def outage(self, where, status):
            """The next request to a service (or to the ticket, or the issue) fails: a server error, or a rate
            limit with Retry-After. The run that meets it stops and is retried later."""
            self.broken = True
            fake = zendesk if where.startswith("zendesk") else jira
            if fake._injected:  # one outage at a time
                return
            self.outages[where.split()[0]] += 1
            path = {
                "zendesk ticket": rf"/api/v2/tickets/{self.ticket_id}\.json",
                "jira issue": rf"/issue/{self.issue_id}",
            }
            headers = {"Retry-After": "5"} if status == 429 else {}
            fake.fail_next(
                status, {"error": "unavailable", "errorMessages": ["unavailable"]}, headers, path=path.get(where)
            )

        def outage_over(self) -> None:
            """The outages end, and the waits they asked for (back-off, Retry-After) are over."""
            zendesk._injected.clear()
            jira._injected.clear()
            WebhookEvent.objects.filter(tenant=tenant, issue_id=self.issue_id, status="pending").update(
                process_after=timezone.now()
            )

        @rule(minutes=st.sampled_from([3, 20]))
        def time_passes(self, minutes):
            """Minutes go by on every clock (ours, Jira's, Zendesk's): waits end, leases expire, and the polls'
            search window moves on from changes older than the last reconcile."""
            self.broken = True
            shift[0] += timedelta(minutes=minutes)
            jira.advance(minutes * 60)
            zendesk.advance(minutes * 60)

        @rule()
        def poll(self):
            """The scheduled poll, after the reconcile's grace: Zendesk's changes to Jira, then lost
            deliveries found."""
            self.broken = True
            self.poll_once()

        @rule()
        def poll_soon(self):
            """A poll right after the changes: the reconcile leaves every change to its webhook (still within
            the grace); the next poll looks again."""
            self.broken = True
            # A context, not the ``settings`` fixture: each assignment to that stacks one more override for the
            # whole run, and a long hunt (thousands of polls) ran out of recursion reading settings.
            with override_settings(SYNC_RECONCILE_GRACE_SECONDS=3600):
                self.poll_once()

        def poll_once(self) -> None:
            state = SyncState.objects.filter(connection=connection).first()
            keys = ("cursors", "events_time", "events_behind", "reconciled_at")
            self.poll_before = None if state is None else {k: getattr(state, k) for k in keys}
            done_before = set(self.pulled_rows())
            outage = bool(zendesk._injected or jira._injected)
            zendesk.advance(120)
            run = connection_poll(connection_id=connection.pk)
            assert run is not None, "the poll did not run"
            assert run.outcome == "success" or (outage and run.outcome == "halted"), (run.outcome, run.reason)
            self.poll_rows = [row for row in self.pulled_rows() if row not in done_before]

        def pulled_rows(self) -> list[tuple[type, int]]:
            """Completed map rows of copies Zendesk → Jira (the pull's)."""
            return [
                (model, pk)
                for model in (CommentMap, AttachmentMap)
                for pk in model.objects.filter(link=self.link, source_side="helpdesk")
                .exclude(target_id="")
                .values_list("pk", flat=True)
            ]

        @rule(kind=st.sampled_from(["push_comment", "push_unfinished", "issue_lease", "poll_page", "poll_lease"]))
        def crash(self, kind):
            """A worker dies mid-write; the machinery carries on."""
            self.broken = True
            now = timezone.now()
            events = WebhookEvent.objects.filter(tenant=tenant, issue_id=self.issue_id)
            again = {"status": "pending", "attempts": 0, "process_after": now, "processed_at": None}
            if kind == "push_comment":
                # The Zendesk comment was written; its map row and its batch's events were not completed.
                row = (
                    CommentMap.objects.filter(link=self.link, source_side="jira")
                    .exclude(target_id__in=["", "failed", "skipped"])
                    .order_by("-id")
                    .first()
                )
                if row is not None:
                    CommentMap.objects.filter(pk=row.pk).update(target_id="")
                    mine = events.filter(payload__comment__id=row.source_id).exclude(status="pending")
                    (mine if mine.exists() else self.last_batch(events)).update(**again)
            elif kind == "push_unfinished":
                # The batch made all its writes, then died before marking its events done.
                self.last_batch(events).update(**again)
            elif kind == "issue_lease":
                IssueState.objects.get_or_create(tenant=tenant, jira_issue_id=self.issue_id)
                IssueState.objects.filter(tenant=tenant, jira_issue_id=self.issue_id).update(
                    lease_owner=_dead_owner(), lease_expires_at=now + timedelta(seconds=120)
                )
            elif kind == "poll_lease":
                SyncState.objects.filter(connection=connection).update(
                    lease_owner=_dead_owner(), lease_expires_at=now + timedelta(seconds=120)
                )
            elif kind == "poll_page" and self.poll_before is not None:
                # The last poll wrote to Jira and completed its map rows, then died before saving its page.
                SyncState.objects.filter(connection=connection).update(**self.poll_before)
                for model, pk in self.poll_rows:
                    model.objects.filter(pk=pk).update(target_id="")
                self.poll_before, self.poll_rows = None, []

        @staticmethod
        def last_batch(events):
            """The events the last push batch finished (one update stamps them all alike)."""
            last = events.exclude(processed_at=None).order_by("-processed_at").values_list("processed_at", flat=True)
            return events.filter(processed_at=last[0]) if last else events.none()

        @initialize(synced=st.booleans())
        def start(self, synced):
            """A link made just now (its first sync still to come), or one that has synced and is quiet."""
            self.broken = True
            if synced:
                self.settle_and_check()

        @rule()
        def settle(self):
            self.broken = True
            self.settle_and_check()

        # --- the checks --------------------------------------------------------------------------------------
        def settle_and_check(self) -> None:
            """Every delivery in, every event processed, polls until a whole round writes nothing; then both
            sides agree, and the link is quiet."""
            self.outage_over()
            for _ in range(6):
                before = self.our_writes()
                for step in (lambda: self.deliver(**ALL), self.process, self.poll, lambda: self.deliver(**ALL)):
                    step()
                    self.check_no_echo()
                self.process()
                self.check_no_echo()
                if self.our_writes() == before:
                    break
            else:
                raise AssertionError(f"the two sides keep writing to each other: {before} → {self.our_writes()}")
            self.check_agreement()
            self.changed = {"jira": False, "zendesk": False}
            self.quiet_writes = self.our_writes()

        def check_agreement(self) -> None:
            issue, ticket = self.issue, self.ticket
            wanted = JIRA_PRIORITY_TO_ZENDESK[issue["priority"]["name"].lower()], _as_tags(issue.get("labels") or [])
            if (ticket["priority"], ticket["tags"]) != wanted:
                raise AssertionError(f"Zendesk has {ticket['priority']}, {ticket['tags']}; Jira says {wanted}")
            assert issue["summary"] == ticket["subject"], (issue["summary"], ticket["subject"])
            category = issue["status"]["statusCategory"]["key"]
            agree = (
                ZENDESK_STATUS_CATEGORY[ticket["status"]] == category
                or ticket["status"] in ZendeskProvider.PUSH_SATISFIED[category]
            )
            assert agree, f"Jira is {issue['status']['name']} ({category}), the ticket is {ticket['status']}"
            # What people said and attached is on the other side, once.
            copied = Counter(m for c in self.zendesk_comments() for m in FOCUSED.findall(c["html_body"]))
            assert all(copied[c] == 1 for c in self.jira_comment_ids), (self.jira_comment_ids, copied)
            noted = Counter(m for c in self.zendesk_comments() for m in JIRA_FILE.findall(c["html_body"]))
            assert all(noted[f] == 1 for f in self.jira_file_ids), (self.jira_file_ids, noted)
            sources = Counter(self.source_keys())
            assert all(sources[f"zendesk:comment:{c}"] == 1 for c in self.zendesk_comment_ids), sources
            names = Counter(f["filename"] for f in self.jira_files())
            assert all(names[f] == 1 for f in self.zendesk_files), (self.zendesk_files, names)
            left = WebhookEvent.objects.filter(tenant=tenant, issue_id=self.issue_id, status__in=["pending", "failed"])
            assert not left.exists(), list(left.values("event_type", "status", "last_error"))
            errors = SyncEvent.objects.filter(link=self.link, result=SyncEvent.Result.ERROR)
            assert not errors.exists(), list(errors.values_list("message", flat=True))

        @invariant()
        def every_step(self):
            app = jira.app_account_id
            jira_authors = {str(c["id"]): c["author"]["accountId"] for c in self.jira_comments()}
            jira_file_authors = {str(f["id"]): f["author"]["accountId"] for f in self.jira_files()}
            zendesk_authors = {str(c["id"]): c["author_id"] for c in self.zendesk_comments()}
            # 1. Never a duplicate, never an echo.
            copied = Counter(m for c in self.zendesk_comments() for m in FOCUSED.findall(c["html_body"]))
            for comment_id, times in copied.items():
                assert times == 1, f"Jira comment {comment_id} is in Zendesk {times} times"
                assert jira_authors.get(comment_id) not in (None, app), f"our Jira comment {comment_id} went back"
            noted = Counter(m for c in self.zendesk_comments() for m in JIRA_FILE.findall(c["html_body"]))
            for file_id, times in noted.items():
                assert times == 1, f"Jira file {file_id} is in Zendesk {times} times"
                assert jira_file_authors.get(file_id) not in (None, app), f"our Jira file {file_id} went back"
            for key, times in Counter(self.source_keys()).items():
                assert times == 1, f"{key} is in Jira {times} times"
                kind, _, source = key.rpartition(":")
                if kind == "zendesk:comment":
                    assert zendesk_authors.get(source) not in (None, agent_id), (
                        f"our Zendesk comment {source} went back"
                    )
            for comment in self.jira_comments():
                if comment["author"]["accountId"] == app:  # every comment we write says where it came from
                    assert SOURCE_PROPERTY in jira.comment_properties.get(comment["id"], {}), comment["id"]
            ours = Counter(f["filename"] for f in self.jira_files() if f["author"]["accountId"] == app)
            for name, times in ours.items():
                assert times == 1 and name in self.zendesk_files, f"{name} is in Jira {times} times"
            self.check_no_echo()
            self.broken = False

        def check_no_echo(self) -> None:
            """2. No write caused only by our own writes: we write to a side only for a person's change on the
            other side since the link was last quiet (checked after every step, and within ``settle``)."""
            if self.quiet_writes is None:
                return
            writes = self.our_writes()
            for side, other in (("jira", "zendesk"), ("zendesk", "jira")):
                assert self.changed[other] or writes[side] == self.quiet_writes[side], (
                    f"wrote to {side} {writes[side]} (quiet: {self.quiet_writes[side]}) though no person changed "
                    f"{other} since the link was last quiet: an echo of our own writes"
                )

        def teardown(self):
            if not self.broken:
                self.settle_and_check()

    return TwoWaySync


def replay(machine, steps: list[tuple[str, dict[str, Any]]]) -> None:
    """Run ``steps`` (rule, arguments) as Hypothesis does: each rule, then the invariant; then the final
    settle."""
    for name, arguments in steps:
        getattr(machine, name)(**arguments)
        machine.every_step()
    machine.teardown()


def test_two_way_sync_survives_any_interleaving(two_way_sync):
    run_state_machine_as_test(two_way_sync, settings=MACHINE_SETTINGS)


def test_a_ticket_put_on_pending_moves_an_issue_in_to_do(two_way_sync):
    """Linked and quiet (Jira In Progress, ticket open); a Jira user moves the issue back to To Do, which the
    open ticket satisfies; then a Zendesk agent puts the ticket on pending: Jira should follow to an
    "indeterminate" status, as it does from any other category."""
    machine = two_way_sync()
    replay(
        machine,
        [
            ("settle", {}),
            ("jira_transition", {"status": "To Do"}),
            ("settle", {}),
            ("zendesk_edit", {"subject": None, "status": "pending"}),
        ],
    )


def test_a_lost_delivery_is_not_hidden_by_our_own_events(two_way_sync):
    """Quiet; the agent renames the ticket and a poll copies it to the summary (our Jira edit, whose webhook
    then comes in); a Jira user raises the priority and Jira loses that delivery; the agent renames the ticket
    again and the next poll's reconcile leaves the issue to its pending event (ours); both our webhooks are
    processed — ignored, as ours. The priority must still reach Zendesk by the next reconcile."""
    machine = two_way_sync()
    replay(
        machine,
        [
            ("settle", {}),
            ("zendesk_edit", {"subject": "Toner everywhere", "status": None}),
            ("poll", {}),
            ("process", {}),
            ("deliver", ALL),
            ("jira_edit", {"priority": "Highest", "labels": None}),
            ("deliver", {**ALL, "lost": [True] * 8}),
            ("zendesk_edit", {"subject": "Fixed?", "status": None}),
            ("poll", {}),
            ("deliver", ALL),
            ("process", {}),
        ],
    )


def test_a_jira_move_reaches_the_ticket_after_a_zendesk_error(two_way_sync):
    """Quiet; a Jira user moves the issue to Done; Zendesk answers the ticket update with a 500 and the
    events are retried after their back-off: the ticket must end up solved."""
    machine = two_way_sync()
    replay(
        machine,
        [
            ("settle", {}),
            ("jira_transition", {"status": "Done"}),
            ("deliver", ALL),
            ("outage", {"where": "zendesk ticket", "status": 500}),
            ("process", {}),
        ],
    )


def test_a_lost_comment_is_not_hidden_by_the_files_delivered_with_it(two_way_sync):
    """Quiet; a Jira user attaches a file, then comments; of the four deliveries (two for each), Jira loses the
    comment's two and delivers the file's; more files follow. The push of the files reads the issue (its
    ``updated`` counts the comment too) but not its comments: the comment must still reach Zendesk by the
    next reconcile, not be taken as seen."""
    machine = two_way_sync()
    replay(
        machine,
        [
            ("start", {"synced": False}),
            *[("jira_attach", {})] * 3,
            ("settle", {}),
            ("jira_attach", {}),
            ("jira_comment", {}),
            ("deliver", {"count": 4, "lost": [True, True], "reverse": True, "twice": False}),
            *[("jira_attach", {})] * 6,
        ],
    )
