"""The Jira admin page (Connect ``adminPages`` / ``configurePage``): server-rendered, works without
Connect's all.js. Every action is a POST form carrying the page session the page was rendered with."""

from __future__ import annotations

import logging
import secrets
from dataclasses import asdict
from datetime import UTC
from urllib.parse import parse_qs, urlsplit

from django.core import signing
from django.db.models import Sum
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from config.errors import ApplicationError, ConflictError, NotFoundError, ValidationFailed
from connector import mapping as rules
from connector import schema as schema_service
from connector.clients.base import ApiError
from connector.clients.zoho_desk import DATA_CENTERS, REQUIRED_SCOPES, desk_url
from connector.errors import NotConnected
from connector.mapping import standard_ticket_preset
from connector.models import ConnectedItem, HelpdeskConnection, Provider
from connector.providers import client_for, provider_for
from connector.providers.base import HelpdeskProvider
from connector.selectors import connection_current, connection_for_provider, item_get, items_list
from connector.services import (
    ItemSpec,
    connected_item_save,
    connection_revoke,
    zendesk_connect,
    zendesk_oauth_attempt_get,
    zendesk_oauth_available,
    zendesk_oauth_callback_accept,
    zendesk_oauth_complete,
    zendesk_oauth_open,
    zendesk_oauth_start,
)
from connector.services.connections import API_TOKEN_ACCOUNT_PREFIX, OAUTH_COOKIE, OAUTH_STATE_MAX_AGE
from connector.services.item_creation import (
    CREATE_DEFAULTS,
    ORGANIZATION_NAME_TYPES,
    can_create_records,
    create_value_refusal,
)
from connector.services.zoho import zoho_connect, zoho_organization_choose, zoho_pending
from sync.engine import WAIT_COUNT_KEYS, record_noun
from sync.models import Link, SyncEvent, SyncRun
from sync.push import events_retry
from sync.selectors import link_get, links_broken, webhook_events_failed
from sync.services import item_delete, link_delete, sync_now
from tenants.auth import jira_page, page_session_read
from tenants.models import ApiToken, Tenant
from tenants.services import api_token_create, api_token_revoke

from ..permissions import require_jira_admin

logger = logging.getLogger(__name__)

MAPPING_ROWS_EXTRA = 3
MAX_MAPPING_ROWS = 200
MAX_STATUS_ROWS = 200
MAX_VALUE_ROWS = 500
MAX_CREATE_VALUE_ROWS = 50
RUNS_SHOWN = 10
RUN_ERRORS_SHOWN = 5
# The helpdesk field whose values an auto-create condition compares (its options are the condition's picker).
CONDITION_FIELDS = {"ticket_type": "type", "group": "group", "brand": "brand", "form": "ticket_form"}
# Actions that change or delete something an admin cannot get back: they ask first (a page, or a dialog).
CONFIRMED = "yes"
# Jira status categories an item's status table maps helpdesk status values to (key → what Jira calls it).
JIRA_CATEGORIES = (("new", "To Do"), ("indeterminate", "In Progress"), ("done", "Done"))
# The item form's text settings for creating records from Jira, and what an absent one means.
CREATE_TEXT_DEFAULTS = {k: v for k, v in CREATE_DEFAULTS.items() if isinstance(v, str)}
# Named when no helpdesk is connected yet (the page offers both).
NO_PROVIDER_WORDS = "Zendesk is not connected. Connect it on this page (or connect Zoho Desk instead)"


def _current(tenant) -> tuple[HelpdeskConnection | None, HelpdeskProvider | None]:
    """The site's helpdesk connection (one at a time; see ``connection_current``) and its provider."""
    connection = connection_current(tenant=tenant)
    return connection, provider_for(connection.provider) if connection else None


def _not_connected_words(provider: HelpdeskProvider | None) -> str:
    if provider is None:
        return NO_PROVIDER_WORDS
    return f"{provider.brand} is not connected. Connect it on this page"


def _console_host(dc) -> str:
    """The Zoho API console of a data center (api-console.zoho.eu, api-console.zohocloud.ca, …)."""
    return dc.accounts_host.replace("accounts.", "api-console.", 1)


def _credits_today(*, tenant, connection) -> int:
    """Helpdesk API credits the connection's sync runs started today (UTC) spent."""
    midnight = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spent = SyncRun.objects.filter(tenant=tenant, connection=connection, started_at__gte=midnight).aggregate(
        total=Sum("credits")
    )
    return spent["total"] or 0


def _base_context(request, **extra):
    tenant = request.tenant
    connection, provider = _current(tenant)
    is_zendesk = bool(connection and connection.provider == Provider.ZENDESK)
    is_zoho = bool(connection and connection.provider == Provider.ZOHO_DESK)
    # No connection, revoked, or the helpdesk stopped accepting the credentials: show the (re)connect forms.
    needs_credentials = connection is None or connection.status != HelpdeskConnection.Status.CONNECTED
    # While a connection is not revoked (auth failed), only its own helpdesk can be reconnected.
    open_choice = connection is None or connection.status == HelpdeskConnection.Status.REVOKED
    zoho_row = connection if is_zoho else connection_for_provider(tenant=tenant, provider=Provider.ZOHO_DESK)
    zoho_settings = zoho_row.settings if zoho_row else {}
    context = {
        "tenant": tenant,
        "session": request.page_session,
        "connection": connection,
        "provider": provider,
        "is_zendesk": is_zendesk,
        "is_zoho": is_zoho,
        "connected": bool(connection and connection.status != HelpdeskConnection.Status.REVOKED),
        "needs_credentials": needs_credentials,
        "show_zendesk_connect": needs_credentials and (open_choice or is_zendesk),
        "show_zoho_connect": needs_credentials and (open_choice or is_zoho),
        # Zoho first when the site's (revoked or failing) helpdesk is Zoho Desk or a Zoho form was just posted.
        "zoho_first": is_zoho or request.POST.get("action") in ("zoho_connect", "zoho_org"),
        "prefill": {
            "subdomain": connection.subdomain if is_zendesk else "",
            "email": connection.agent_email if is_zendesk else "",
            "data_center": zoho_settings.get("data_center", ""),
            "client_id": zoho_settings.get("client_id", ""),
        },
        "oauth_available": zendesk_oauth_available(),
        # The email + API token form is the secondary path: open when OAuth is not set up here, when the
        # connection already uses a token, or when the admin just submitted it.
        "token_form_open": not zendesk_oauth_available()
        or bool(is_zendesk and connection.auth_type == HelpdeskConnection.AuthType.API_TOKEN)
        or request.POST.get("action") == "connect",
        "zoho_data_centers": [{"key": dc.key, "label": dc.label} for dc in DATA_CENTERS.values()],
        "zoho_consoles": {dc.key: _console_host(dc) for dc in DATA_CENTERS.values()},
        "zoho_scopes": REQUIRED_SCOPES,
        "zoho_pending": zoho_pending(zoho_row) if needs_credentials and zoho_row else None,
        **extra,
    }
    if context["zoho_pending"]:
        dc = DATA_CENTERS.get(context["zoho_pending"]["data_center"])
        context["zoho_pending"]["data_center_label"] = dc.label if dc else context["zoho_pending"]["data_center"]
    if is_zoho and context["connected"]:
        dc_key = connection.settings.get("data_center", "")
        dc = DATA_CENTERS.get(dc_key)
        context["zoho_summary"] = {
            "data_center": dc.label if dc else dc_key,
            "client_id": connection.settings.get("client_id", ""),
            "desk_host": desk_url(dc_key) if dc else "",
            "org_name": connection.settings.get("org_name", ""),
            "org_id": connection.settings.get("org_id", ""),
            "portal": connection.settings.get("portal", ""),
            "edition": connection.settings.get("edition", ""),
            "credits_today": _credits_today(tenant=tenant, connection=connection),
        }
    return context


def _when(moment, now) -> dict | None:
    """A time as people read it ("3 minutes ago") with the exact time for the hover (``title``) and the
    machine-readable one for ``<time datetime>``."""
    if moment is None:
        return None
    seconds = max(int((now - moment).total_seconds()), 0)
    if seconds < 45:
        ago = "just now"
    elif seconds < 90:
        ago = "a minute ago"
    elif seconds < 3600:
        ago = f"{round(seconds / 60)} minutes ago"
    elif seconds < 5400:
        ago = "an hour ago"
    elif seconds < 86400:
        ago = f"{round(seconds / 3600)} hours ago"
    elif seconds < 172800:
        ago = "yesterday"
    else:
        ago = f"{seconds // 86400} days ago"
    exact = moment.astimezone(UTC)
    return {"ago": ago, "iso": exact.isoformat(), "exact": exact.strftime("%Y-%m-%d %H:%M:%S UTC")}


def _revoke_words(*, tenant, connection, provider) -> str:
    items = ConnectedItem.objects.filter(tenant=tenant, connection=connection).count()
    links = Link.objects.filter(tenant=tenant, item__connection=connection).count()
    return (
        f"Revoke the {provider.brand} connection? Deskbridge deletes the stored credentials at once and pauses "
        f"{items} item{'' if items == 1 else 's'}; {links} link{'' if links == 1 else 's'} to Jira issues stay and "
        f"resume syncing when you connect {provider.brand} again."
    )


def _item_delete_words(*, tenant, item) -> str:
    links = Link.objects.filter(tenant=tenant, item=item).count()
    brand = provider_for(item.connection.provider).brand
    return (
        f"Delete {item.name}? {'Its 1 link' if links == 1 else f'Its {links} links'} to Jira issues "
        f"{'goes' if links == 1 else 'go'} with it (the Jira issues and {brand} records themselves stay). "
        "This cannot be undone."
    )


def _token_revoke_words(token: ApiToken) -> str:
    return f"Revoke the API token {token.name}? Scripts that use it are refused from now on. This cannot be undone."


def _item_state(item, connection, running: bool) -> dict:
    """The item's sync state as a lozenge: its words carry the state, the colour only repeats it."""
    if item.is_paused:
        return {"label": "Paused", "tone": "default"}
    if connection.status == HelpdeskConnection.Status.AUTH_FAILED:
        return {"label": "Auth failed", "tone": "removed"}
    if running and item.is_synchronized:
        return {"label": "Syncing", "tone": "inprogress"}
    if item.last_error:
        return {"label": "Error", "tone": "removed"}
    return {"label": "Connected", "tone": "success"}


def _connection_state(connection) -> dict:
    tones = {
        HelpdeskConnection.Status.CONNECTED: ("Connected", "success"),
        HelpdeskConnection.Status.AUTH_FAILED: ("Auth failed", "removed"),
        HelpdeskConnection.Status.REVOKED: ("Revoked", "default"),
    }
    label, tone = tones.get(connection.status, (connection.get_status_display(), "default"))
    return {"label": label, "tone": tone}


_RUN_TONES = {
    SyncRun.Outcome.RUNNING: ("Syncing", "inprogress"),
    SyncRun.Outcome.SUCCESS: ("Success", "success"),
    SyncRun.Outcome.HALTED: ("Halted", "moved"),
    SyncRun.Outcome.FAILED: ("Error", "removed"),
}


class _Labels:
    """Field names for the grid's mapping summaries, one schema read per object and create screen (cached
    schemas; when one cannot be read the summary shows the field ids rather than failing the page)."""

    def __init__(self, tenant, connection) -> None:
        self.tenant, self.connection = tenant, connection
        self._helpdesk: dict[str, dict[str, str]] = {}
        self._jira: dict[tuple[str, str], dict[str, str]] = {}

    def helpdesk(self, helpdesk_object: str) -> dict[str, str]:
        if helpdesk_object not in self._helpdesk:
            try:
                fields = schema_service.helpdesk_fields(
                    tenant=self.tenant, connection=self.connection, helpdesk_object=helpdesk_object
                )
            except ApplicationError:
                fields = []
            self._helpdesk[helpdesk_object] = {f["id"]: f["label"] for f in fields}
        return self._helpdesk[helpdesk_object]

    def jira(self, project: str, issue_type_id: str) -> dict[str, str]:
        key = (project, issue_type_id)
        if key not in self._jira:
            try:
                fields = schema_service.jira_create_fields(
                    tenant=self.tenant, project=project, issue_type_id=issue_type_id
                )
            except ApplicationError:
                fields = []
            self._jira[key] = {f["id"]: f["label"] for f in fields}
        return self._jira[key]


def _grid_items(*, tenant, connection, runs_by_id: dict) -> list:
    """The items of the current helpdesk with what the grid shows: names instead of field ids, the state
    lozenge, last sync as a relative time, and the run where the last error happened."""
    now = timezone.now()
    running = SyncRun.objects.filter(tenant=tenant, connection=connection, outcome=SyncRun.Outcome.RUNNING).exists()
    labels = _Labels(tenant, connection)
    provider = provider_for(connection.provider)
    # Only the current helpdesk's items: those of a helpdesk the site left wait, paused, for a reconnect.
    items = list(items_list(tenant=tenant).filter(connection=connection))
    for item in items:
        item.object_label = provider.object_label(item.helpdesk_object)
        hd_names = labels.helpdesk(item.helpdesk_object)
        mappings = list(item.mappings.all())
        jira_names = labels.jira(item.jira_project_id, item.jira_issue_type_id) if mappings else {}
        item.mapping_lines = [
            f"{hd_names.get(m.helpdesk_field, m.helpdesk_field)} "
            f"{'→' if m.direction == 'to_jira' else '←'} {jira_names.get(m.jira_field, m.jira_field)}"
            for m in mappings
        ]
        item.display_names = [hd_names.get(f, f) for f in item.display_fields]
        item.sync_options = [
            words
            for flag, words in (
                (item.auto_create, "auto-create"),
                (item.status_sync, "status"),
                (item.comment_sync, "comments"),
                (item.attachment_sync, "attachments"),
            )
            if flag
        ]
        item.state = _item_state(item, connection, running)
        item.last_sync = _when(item.last_sync_at, now)
        item.delete_words = _item_delete_words(tenant=tenant, item=item)
        item.error_run_id = None
        if item.last_error:
            event = (
                SyncEvent.objects.filter(tenant=tenant, item=item, result=SyncEvent.Result.ERROR)
                .order_by("-id")
                .values_list("run_id", flat=True)
                .first()
            )
            if event is None:
                event = (
                    SyncRun.objects.filter(
                        tenant=tenant,
                        connection=connection,
                        outcome__in=(SyncRun.Outcome.FAILED, SyncRun.Outcome.HALTED),
                    )
                    .values_list("pk", flat=True)
                    .first()
                )
            item.error_run_id = event
            if event is not None and event not in runs_by_id:
                runs_by_id[event] = None  # the runs view shows it too, so the link lands on it
    return items


def _runs(*, tenant, connection, extra_ids) -> list[SyncRun]:
    """The latest runs of the connection (and any older one an item's last error points at), newest first,
    each with its outcome lozenge, relative start time and the first events that failed."""
    now = timezone.now()
    latest = list(SyncRun.objects.filter(tenant=tenant, connection=connection)[:RUNS_SHOWN])
    missing = set(extra_ids) - {r.pk for r in latest}
    runs = latest + list(SyncRun.objects.filter(tenant=tenant, connection=connection, pk__in=missing))
    runs.sort(key=lambda r: (r.started_at, r.pk), reverse=True)
    for run in runs:
        label, tone = _RUN_TONES.get(run.outcome, (run.get_outcome_display(), "default"))
        run.state = {"label": label, "tone": tone}
        run.started = _when(run.started_at, now)
        run.count_words = ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in (run.counts or {}).items() if v and k not in WAIT_COUNT_KEYS
        )  # a rate limit's wait is in the reason, in words
        calls = run.api_calls or {}
        run.call_words = ", ".join(f"{k} {v}" for k, v in calls.items() if v)
        run.errors = list(
            SyncEvent.objects.filter(tenant=tenant, run=run, result=SyncEvent.Result.ERROR).select_related("item")[
                :RUN_ERRORS_SHOWN
            ]
        )
    return runs


def _render_home(request, *, message="", error=None, status=200, **extra):
    context = _base_context(request, message=message, error=error, **extra)
    tenant = request.tenant
    if context["connected"]:
        connection = context["connection"]
        wanted_runs: dict = {}
        context["items"] = _grid_items(tenant=tenant, connection=connection, runs_by_id=wanted_runs)
        context["runs"] = _runs(tenant=tenant, connection=connection, extra_ids=wanted_runs)
        context["connection_state"] = _connection_state(connection)
        context["revoke_words"] = _revoke_words(tenant=tenant, connection=connection, provider=context["provider"])
        context["failed_events"] = webhook_events_failed(tenant=tenant)
        context["broken_links"] = links_broken(tenant=tenant)
        context["broken_records"] = links_broken(tenant=tenant, side="helpdesk")
        _broken_words_attach(tenant, context["broken_links"] + context["broken_records"])
    tokens = list(ApiToken.objects.filter(tenant=tenant).order_by("-created_at"))
    for token in tokens:
        token.revoke_words = _token_revoke_words(token)
    context["tokens"] = tokens
    context["token_scopes"] = ApiToken.Scope.choices
    return render(request, "panel/admin_page.html", context, status=status)


def _admin_only(view):
    def wrapper(request, *args, **kwargs):
        try:
            require_jira_admin(tenant=request.tenant, account_id=request.jira_account_id)
        except ApplicationError as exc:
            return render(request, "panel/admin_denied.html", {"message": exc.message, "code": exc.code}, status=403)
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    return wrapper


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("api_token", "client_secret", "code", "session")
@jira_page
@_admin_only
def admin_page(request):
    if request.method == "GET":
        return _render_home(request)
    action = request.POST.get("action", "")
    handler = _ACTIONS.get(action)
    if handler is None:
        return _render_home(request, error={"message": f"Unknown action {action!r}. Reload the page."}, status=400)
    try:
        if action in _CONFIRM and request.POST.get("confirmed") != CONFIRMED:
            confirmation = _CONFIRM[action](request)
            if confirmation is not None:
                return confirmation
        return handler(request)
    except ApplicationError as exc:
        logger.info("admin page action %s refused: %s", action, exc.code)
        return _render_error(request, action, exc)


def _render_error(request, action, exc: ApplicationError):
    error = {
        "code": exc.code,
        "message": exc.message,
        "fields": exc.extra.get("fields", {}),
        "errors": exc.extra.get("errors", []),
    }
    if isinstance(exc, NotConnected):
        return _render_home(request, error=error, status=exc.status_code)
    if action in ("item_step2", "item_save", "item_preset", "item_status_reload"):
        return _render_item_form(request, step=2, error=error, status=exc.status_code if exc.status_code < 500 else 400)
    if action == "item_step1":
        return _render_item_form(request, step=1, error=error, status=400)
    return _render_home(
        request, error=error, form=request.POST, status=exc.status_code if exc.status_code < 500 else 502
    )


# --- confirmations ---------------------------------------------------------------------------------------
# Without script, a destructive button posts without ``confirmed``: the page answers with a confirm step that
# says what will happen and posts the same action again with ``confirmed=yes`` (with script, a <dialog> asks
# the same question on the page and adds it).


def _confirm_page(request, *, title: str, words: str, button: str, fields: dict[str, str]):
    context = _base_context(request, title=title, words=words, button=button, carry=fields)
    return render(request, "panel/admin_confirm.html", context)


def _confirm_revoke(request):
    connection, provider = _current(request.tenant)
    if connection is None or connection.status == HelpdeskConnection.Status.REVOKED:
        return None
    words = _revoke_words(tenant=request.tenant, connection=connection, provider=provider)
    return _confirm_page(
        request, title=f"Revoke {provider.brand}?", words=words, button="Revoke", fields={"action": "revoke"}
    )


def _confirm_item_delete(request):
    item = item_get(tenant=request.tenant, item_id=_int(request.POST.get("item_id")))
    if item is None:
        return None
    return _confirm_page(
        request,
        title=f"Delete {item.name}?",
        words=_item_delete_words(tenant=request.tenant, item=item),
        button="Delete",
        fields={"action": "item_delete", "item_id": str(item.pk)},
    )


def _confirm_token_revoke(request):
    token = ApiToken.objects.filter(
        tenant=request.tenant, pk=_int(request.POST.get("token_id")), revoked_at__isnull=True
    ).first()
    if token is None:
        return None
    return _confirm_page(
        request,
        title=f"Revoke {token.name}?",
        words=_token_revoke_words(token),
        button="Revoke",
        fields={"action": "token_revoke", "token_id": str(token.pk)},
    )


def _confirm_broken_unlink(request):
    link, words = _broken_link(request)
    return _confirm_page(
        request,
        title=words["title"],
        words=words["ask"],
        button="Unlink",
        fields={"action": "broken_unlink", "link_id": str(link.pk)},
    )


_CONFIRM = {
    "revoke": _confirm_revoke,
    "item_delete": _confirm_item_delete,
    "token_revoke": _confirm_token_revoke,
    "broken_unlink": _confirm_broken_unlink,
}


# --- connection ------------------------------------------------------------------------------------------


def _connect(request):
    connection = zendesk_connect(
        tenant=request.tenant,
        subdomain=request.POST.get("subdomain", ""),
        email=request.POST.get("email", ""),
        api_token=request.POST.get("api_token", ""),
    )
    return _render_home(request, message=f"Connected to Zendesk as {connection.agent_name or connection.agent_email}.")


@sensitive_variables("connection")
def _zoho_connect(request):
    connection = zoho_connect(
        tenant=request.tenant,
        data_center=request.POST.get("data_center", ""),
        client_id=request.POST.get("client_id", ""),
        client_secret=request.POST.get("client_secret", ""),
        code=request.POST.get("code", ""),
    )
    if zoho_pending(connection):
        return _render_home(
            request,
            message="This Zoho user belongs to several Zoho Desk organizations: choose the one to connect.",
        )
    return _render_home(request, message=_zoho_connected_words(connection))


def _zoho_org(request):
    org_id = request.POST.get("org_id", "")
    if not org_id:
        raise ValidationFailed(
            "Choose the Zoho Desk organization to connect.",
            code="zoho_org_required",
            extra={"fields": {"org_id": ["Choose an organization."]}},
        )
    connection = zoho_organization_choose(tenant=request.tenant, org_id=org_id)
    return _render_home(request, message=_zoho_connected_words(connection))


def _zoho_connected_words(connection: HelpdeskConnection) -> str:
    org = connection.settings.get("org_name") or connection.settings.get("org_id", "")
    return f"Connected to Zoho Desk ({org}) as {connection.agent_name or connection.agent_email}."


def _revoke(request):
    connection, _ = _current(request.tenant)
    if connection is not None:
        connection_revoke(tenant=request.tenant, connection=connection)
    return _render_home(request, message="Disconnected. Credentials were deleted and every item is paused.")


def _oauth_start(request):
    url = zendesk_oauth_start(
        tenant=request.tenant,
        account_id=request.jira_account_id or "",
        subdomain=request.POST.get("subdomain", ""),
    )
    # The page opens it as a form post with this admin's page session: the link opens for nobody else.
    oauth_open = {"action": url.split("?", 1)[0], "state": parse_qs(urlsplit(url).query)["state"][0]}
    return _render_home(
        request, oauth_open=oauth_open, message="Continue in the Zendesk window to authorize Deskbridge."
    )


def _sync_now(request):
    connection, provider = _current(request.tenant)
    if connection is None:
        raise NotConnected(f"{_not_connected_words(provider)} first.")
    sync_now(tenant=request.tenant, connection=connection)
    return _render_home(
        request, message=f"Sync queued: {provider.brand} changes are being pulled into linked issues now."
    )


def _refresh(request):
    schema_service.schema_cache_clear(tenant=request.tenant)
    return _render_home(request, message="Jira and helpdesk schemas will be reloaded on next use.")


# --- items -------------------------------------------------------------------------------------------------


def _bounded_rows(value, limit: int) -> int:
    try:
        return min(max(int(value or 0), 0), limit)
    except (TypeError, ValueError):
        return 0


def _form_values(post, provider: HelpdeskProvider | None = None) -> dict:
    """Read the item form (both steps carry every value forward in hidden fields). Auto-create conditions
    are read for the provider's condition keys (without one: every ``cond_…`` field posted)."""
    # An unticked checkbox is not submitted: once step 2 (where the box is shown) is posted, absent is off.
    step2_posted = post.get("action") in ("item_save", "item_preset", "item_status_reload", "item_back")
    mappings = []
    for index in range(_bounded_rows(post.get("mapping_rows", "0"), MAX_MAPPING_ROWS)):
        hd, jf = post.get(f"m{index}_helpdesk", ""), post.get(f"m{index}_jira", "")
        if not hd and not jf:
            continue
        value_map = {}
        if f"m{index}_vcount" in post:
            # the value pickers: one helpdesk (or Jira) value and the value it becomes per line; empty: unmapped
            for line in range(_bounded_rows(post.get(f"m{index}_vcount"), MAX_VALUE_ROWS)):
                key, value = post.get(f"m{index}_vk{line}", ""), post.get(f"m{index}_vv{line}", "")
                if key and value:
                    value_map[key] = value
        for line in post.get(f"m{index}_values", "").splitlines():
            if "=" in line:
                key, _, value = line.partition("=")
                value_map[key.strip()] = value.strip()
        mappings.append(
            {
                "helpdesk_field": hd,
                "jira_field": jf,
                "direction": post.get(f"m{index}_direction", "to_jira"),
                "value_map": value_map,
            }
        )
    # The status table: one row per value of the status field it was shown for. A table shown for another
    # field than the one now chosen (changed without reloading the table) is dropped: the defaults apply.
    status_field = post.get("status_field", "")
    status_map = {}
    for index in range(_bounded_rows(post.get("status_rows", "0"), MAX_STATUS_ROWS)):
        value, category = post.get(f"sm{index}_value", ""), post.get(f"sm{index}_category", "")
        if value and category:
            status_map[value] = category
    if post.get("status_map_field", status_field) != status_field:
        status_map = {}
    if provider is not None:
        condition_keys = list(provider.condition_keys)
    else:
        condition_keys = sorted(key[5:] for key in post if key.startswith("cond_") and key[5:])
    default_object = next(iter(provider.objects)) if provider is not None else "ticket"
    return {
        "item_id": post.get("item_id", ""),
        "name": post.get("name", ""),
        "mode": post.get("mode", ConnectedItem.Mode.DISPLAY),
        "jira_project": post.get("jira_project", ""),
        "jira_issue_type_id": post.get("jira_issue_type_id", ""),
        "helpdesk_object": post.get("helpdesk_object", "") or default_object,
        "display_fields": post.getlist("display_fields"),
        "mappings": mappings,
        **{
            t: post.get(t) == "on"
            for t in ("auto_create", "status_sync", "comment_sync", "attachment_sync", "link_note", "create_from_jira")
        },
        "links_api_enabled": post.get("links_api_enabled", "off" if step2_posted else "on") == "on",
        # a picker posts one value per ticked box; a text field (and the carried step-1 field) a comma list
        "auto_create_conditions": {
            key: list(
                dict.fromkeys(v.strip() for raw in post.getlist(f"cond_{key}") for v in raw.split(",") if v.strip())
            )
            for key in condition_keys
        },
        "status_field": status_field,
        "status_map": status_map,
        # creating records from Jira: fields not shown (the item cannot create records) are absent: defaults
        **{name: post.get(name, default) for name, default in CREATE_TEXT_DEFAULTS.items()},
        "create_values": _create_values_posted(post),
        # what an admin typed to find the default requester or organization (a search, never stored)
        "requester_query": post.get("requester_query", "").strip()[:200],
        "organization_query": post.get("organization_query", "").strip()[:200],
    }


def _create_values_posted(post) -> dict[str, str]:
    """The values of new records: one row per field (a field chosen without a value yet is kept, empty, for
    the form to offer its values; the save leaves empty ones out)."""
    values: dict[str, str] = {}
    for index in range(_bounded_rows(post.get("create_value_rows", "0"), MAX_CREATE_VALUE_ROWS)):
        field_id, value = post.get(f"cv{index}_field", "").strip(), post.get(f"cv{index}_value", "")
        if field_id and (field_id not in values or value):  # a second row of a field: its value wins
            values[field_id] = value
    return values


def _shown_value(value) -> str:
    """A value for new records as its form field shows it (several values comma-separated)."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _values_from_item(item: ConnectedItem) -> dict:
    return {"item_id": str(item.pk), **asdict(ItemSpec.from_item(item))}


def _status_context(provider: HelpdeskProvider, values: dict, helpdesk_fields: list[dict]) -> dict:
    """The status-field picker and the value → Jira category table (helpdesks with ``status_field_choice``)."""
    choices = [f for f in helpdesk_fields if f.get("type") == "dropdown"]
    ids = {f["id"] for f in choices}
    default = provider.default_status_field(values["helpdesk_object"])
    default = default if default in ids else ""
    chosen = values.get("status_field") if values.get("status_field") in ids else default
    rows = []
    if chosen:
        field = next(f for f in choices if f["id"] == chosen)
        defaults = provider.status_map_default(helpdesk_fields, chosen)
        current = values.get("status_map") or {}
        for option in field.get("options") or []:
            category = current.get(option["value"]) or defaults.get(option["value"]) or "indeterminate"
            label = option.get("label") or option["value"]
            rows.append({"value": option["value"], "label": label, "category": category})
    return {
        "status_choice": True,
        "status_fields": choices,
        "status_field": chosen,
        "status_field_default": default,
        "status_rows": rows,
        "jira_categories": JIRA_CATEGORIES,
    }


def _modes_for(provider: HelpdeskProvider, helpdesk_object: str) -> list[tuple[str, str]]:
    """The modes an object supports: every mode for objects the helpdesk can synchronize, else display only."""
    if helpdesk_object in provider.syncable_objects:
        return list(ConnectedItem.Mode.choices)
    return [(v, label) for v, label in ConnectedItem.Mode.choices if v == ConnectedItem.Mode.DISPLAY]


def _value_rows(*, tenant, row: dict, hd: dict | None, jf: dict | None) -> list[dict] | None:
    """A mapping row's value map as pickers: one line per source value, a picker of the target's values by
    name, pre-filled from the saved map, else by name (and Jira's priorities by urgency). None when the pair
    needs no value map (or a side is not chosen yet)."""
    if not hd or not jf:
        return None
    direction = row.get("direction") or "to_jira"
    if rules.rule_for(direction, hd["type"], jf["type"]) not in ("options", "priority"):
        return None
    jira_options = jf["options"]
    if jf["type"] == "priority" and not jira_options:
        jira_options = [{"value": p["id"], "label": p["name"]} for p in schema_service.jira_priorities(tenant=tenant)]
    source, target = (hd["options"], jira_options) if direction == "to_jira" else (jira_options, hd["options"])
    if not source or not target:
        return None
    suggested = rules.suggest_value_map(source, target)
    if direction == "to_jira" and hd["type"] == "priority":
        suggested.update(rules.priority_value_map([{"id": o["value"], "name": o["label"]} for o in jira_options]))
    current = row.get("value_map") or {}
    return [
        {
            "key": o["value"],
            "label": o["label"],
            "selected": current.get(o["value"]) or suggested.get(o["value"], ""),
            "options": target,
        }
        for o in source
    ]


def _condition_lists(*, tenant, connection, provider: HelpdeskProvider) -> tuple[dict, dict]:
    """The values the helpdesk lists for the auto-create conditions it can list (cached with the schema), and
    for each list that could not be read, why."""
    listed: dict[str, list[dict]] = {}
    failures: dict[str, str] = {}
    for key in provider.condition_keys:
        if key not in provider.condition_choice_keys:
            continue
        try:
            choices = schema_service.helpdesk_condition_choices(tenant=tenant, connection=connection, key=key)
        except (ApplicationError, ApiError) as exc:
            failures[key] = exc.message
            logger.info("condition values not listed: tenant=%s key=%s: %s", tenant.pk, key, exc.message)
            continue
        if choices is not None:
            listed[key] = choices
    return listed, failures


def _condition_rows(
    provider: HelpdeskProvider,
    conditions: dict,
    helpdesk_fields: list[dict] | None,
    listed: dict[str, list[dict]] | None = None,
    failures: dict[str, str] | None = None,
) -> list[dict]:
    """Auto-create conditions: a picker of the helpdesk's values by name — as the helpdesk lists them
    (``listed``: groups, brands, forms, tags, departments) or as its schema gives them (priorities, types) —
    storing what the engine compares (ids, tags); else a comma-separated text field, with a note when the
    helpdesk's list could not be read (``failures``). A chosen value no longer offered stays, ticked."""
    by_id = {f["id"]: f for f in helpdesk_fields or []}
    listed, failures = listed or {}, failures or {}
    rows = []
    for key, label in provider.condition_keys.items():
        chosen = list(conditions.get(key, []))
        text = ", ".join(chosen)
        if key in listed:
            options = listed[key]
        else:
            field = by_id.get(CONDITION_FIELDS.get(key, key))
            options = [o for o in (field or {}).get("options") or [] if o.get("value") not in (None, "")]
        open_list = key in provider.condition_open_keys  # the most used values only: others may be typed
        words = label.removesuffix(" ids")
        if words != label:
            words = words + "s" if not words.endswith("s") else words
        if options or key in listed:
            known = {str(o["value"]) for o in options}
            gone = "" if open_list else f" (not in {provider.brand} any more)"
            choices = [
                {"value": str(o["value"]), "label": o.get("label") or o["value"], "checked": str(o["value"]) in chosen}
                for o in options
            ] + [{"value": v, "label": f"{v}{gone}", "checked": True} for v in chosen if v not in known]
            empty = f"{provider.brand} has no {words.lower()} to choose from."
            rows.append(
                {"key": key, "label": words, "choices": choices, "text": text, "other": open_list, "empty": empty}
            )
        else:
            note = ""
            if key in failures:
                note = f"{failures[key]} Until then, type the {label.lower()} here, separated by commas."
            rows.append({"key": key, "label": label, "choices": None, "text": text, "note": note})
    return rows


def _field_choices(fields: list[dict], chosen: str) -> list[dict]:
    """Fields to choose one from (by name), the chosen one kept when it is not among them any more."""
    choices = [{"id": f["id"], "label": f["label"]} for f in fields]
    if chosen and all(c["id"] != chosen for c in choices):
        choices.append({"id": chosen, "label": chosen})
    return choices


def _creation_context(
    *, tenant, connection, provider: HelpdeskProvider, values: dict, helpdesk_fields: list[dict]
) -> dict:
    """The step-2 fieldset for creating records from Jira: shown for synchronized items of objects Deskbridge
    can create, with the requester and organization parts the object's records name, and the field carrying
    a record's Jira origin where the helpdesk has no external id. The stored names of the default requester
    and organization are shown while their ids are unchanged."""
    helpdesk_object = values["helpdesk_object"]
    if not can_create_records(provider, mode=values["mode"], helpdesk_object=helpdesk_object):
        return {"shown": False}
    people = provider.create_people(helpdesk_object)
    jira_fields = schema_service.jira_fields(tenant=tenant) if people else []
    stored = item_get(tenant=tenant, item_id=_int(values.get("item_id"))) if values.get("item_id") else None
    requester_label = organization_label = ""
    if stored is not None and stored.default_requester_id == values["default_requester_id"]:
        requester_label = stored.default_requester_label
    if stored is not None and stored.default_organization_id == values["default_organization_id"]:
        organization_label = stored.default_organization_label
    tag_required = provider.record_tag_required(helpdesk_object)
    requester_matches, requester_note = _people_matches(
        connection, provider, values, "requester_query", "default_requester_id", requester_label, "person"
    )
    organization_matches, organization_note = _people_matches(
        connection,
        provider,
        values,
        "organization_query",
        "default_organization_id",
        organization_label,
        "organization",
    )
    value_rows = _create_value_rows(
        tenant=tenant, provider=provider, values=values, helpdesk_fields=helpdesk_fields, connection=connection
    )
    return {
        "shown": True,
        "value_rows": value_rows,
        "values_required": any(row["required"] for row in value_rows),
        "objects": provider.object_label(helpdesk_object).lower(),
        "requester": "requester" in people,
        "organization": "organization" in people,
        "user_fields": _field_choices([f for f in jira_fields if f["type"] == "user"], values["requester_field"]),
        "name_fields": _field_choices(
            [f for f in jira_fields if f["type"] in ORGANIZATION_NAME_TYPES], values["organization_field"]
        ),
        "requester_rules": ConnectedItem.RequesterRule.choices,
        "organization_rules": ConnectedItem.OrganizationRule.choices,
        "organization_missing": ConnectedItem.OrganizationMissing.choices,
        "requester_label": requester_label,
        "organization_label": organization_label,
        "requester_matches": requester_matches,
        "requester_note": requester_note,
        "organization_matches": organization_matches,
        "organization_note": organization_note,
        "tag_required": tag_required,
        "tag_fields": _field_choices(
            [f for f in helpdesk_fields if f["type"] == "text" and not f["system"]] if tag_required else [],
            values["record_tag_field"],
        ),
    }


def _people_matches(connection, provider, values: dict, query_name: str, id_name: str, label: str, kind: str):
    """What the helpdesk finds for a typed search of the default requester (``kind`` person) or organization,
    as choices of the default's picker (the current default first, kept), and a note saying what was found;
    (None, "") when nothing was searched."""
    query = values.get(query_name) or ""
    if not query or connection is None:
        return None, ""
    search = provider.people_search if kind == "person" else provider.organizations_search
    try:
        found = search(client_for(connection), query)
    except ApiError as exc:
        return None, f"Could not search {provider.brand}: {exc.message.rstrip('.')}. Try again in a moment."
    current = values.get(id_name) or ""
    choices = [] if not current else [{"id": current, "label": label or current}]
    for match in found:
        if match["id"] != current:
            words = f"{match['name']} <{match['email']}>" if match.get("email") else match.get("name") or match["id"]
            choices.append({"id": match["id"], "label": f"{words} ({match['id']})"})
    if not found:
        return None, f"No {kind} in {provider.brand} matches {query!r}."
    return choices, f"{len(found)} found for {query!r}: choose one below."


def _create_value_rows(*, tenant, provider: HelpdeskProvider, values: dict, helpdesk_fields: list[dict], connection):
    """The values of new records as rows of a field picker and a value: the item's values, then a row for each
    field new records require whose value is chosen from a list and that no mapping row names yet (a Zoho
    department, say), then an empty row. A field with values to choose from (its options, or the list the
    helpdesk reads out: departments, groups) gets a picker of them; the others a text field."""
    helpdesk_object, tag = values["helpdesk_object"], values.get("record_tag_field") or ""
    offered = [f for f in helpdesk_fields if not create_value_refusal(provider, helpdesk_object, f, tag)]
    by_id = {f["id"]: f for f in helpdesk_fields}
    given = dict(values.get("create_values") or {})
    named = {m.get("helpdesk_field") for m in values.get("mappings") or []}
    required = provider.create_required_fields(helpdesk_object, helpdesk_fields)
    for field_ in offered:
        listed = field_.get("options") or field_["id"] in provider.condition_choice_keys
        if field_["id"] in required and listed and field_["id"] not in given and field_["id"] not in named:
            given[field_["id"]] = ""
    rows = []
    for field_id, value in [*given.items(), ("", "")]:
        field_ = by_id.get(field_id)
        options, note = None, ""
        if field_ is not None and field_["type"] not in ("multiselect", "tags"):
            options = field_.get("options") or None
            if field_id in provider.condition_choice_keys:
                try:
                    options = schema_service.helpdesk_condition_choices(
                        tenant=tenant, connection=connection, key=field_id
                    )
                except ApplicationError as exc:
                    note = f"{exc.message} Until then, type the value's id."
        shown = _shown_value(value)
        if options is not None and shown and all(str(o["value"]) != shown for o in options):
            options = [*options, {"value": shown, "label": f"{shown} (not in {provider.brand} any more)"}]
        choices = [{"id": f["id"], "label": f["label"]} for f in offered]
        if field_id and field_id not in {c["id"] for c in choices}:
            choices.append({"id": field_id, "label": field_["label"] if field_ else field_id})
        rows.append(
            {
                "field": field_id,
                "value": shown,
                "fields": choices,
                "options": options,
                "required": field_id in required,
                "several": bool(field_ and field_["type"] in ("multiselect", "tags")),
                "note": note,
            }
        )
    return rows


def _render_item_form(request, *, step: int, values: dict | None = None, error=None, status=200, message=""):
    tenant: Tenant = request.tenant
    connection, provider = _current(tenant)
    # Without any connection (a form left open elsewhere) the page still renders; saving says to connect.
    provider = provider or provider_for(Provider.ZENDESK)
    values = values if values is not None else _form_values(request.POST, provider)
    error = error or {}
    modes = _modes_for(provider, values["helpdesk_object"])
    context = _base_context(
        request,
        step=step,
        values=values,
        error=error,
        message=message,
        objects=provider.objects,
        modes=modes,
        display_only_objects=[label for key, label in provider.objects.items() if key not in provider.syncable_objects],
        item_provider=provider,
        preset_available=values["helpdesk_object"] == provider.ticket_object,
    )
    # A schema that cannot be loaded is shown on the form (this also renders errors: it must not raise).
    try:
        context["projects"] = schema_service.jira_projects(tenant=tenant)
        if values["jira_project"]:
            context["issue_types"] = schema_service.jira_issue_types(tenant=tenant, project=values["jira_project"])
        if step == 2 and connection is not None and values["helpdesk_object"] in provider.objects:
            context["helpdesk_fields"] = schema_service.helpdesk_fields(
                tenant=tenant, connection=connection, helpdesk_object=values["helpdesk_object"]
            )
            if values["jira_issue_type_id"]:
                context["jira_fields"] = [
                    f
                    for f in schema_service.jira_create_fields(
                        tenant=tenant, project=values["jira_project"], issue_type_id=values["jira_issue_type_id"]
                    )
                    if f["type"] != "internal"
                ]
            context["creation"] = _creation_context(
                tenant=tenant,
                connection=connection,
                provider=provider,
                values=values,
                helpdesk_fields=context["helpdesk_fields"],
            )
    except ApplicationError as exc:
        context["schema_error"] = exc.message
    if step == 2 and provider.status_field_choice and "helpdesk_fields" in context:
        context.update(_status_context(provider, values, context["helpdesk_fields"]))
    project = next((p for p in context.get("projects", []) if values["jira_project"] in (p["id"], p["key"])), None)
    issue_type = next(
        (t["name"] for t in context.get("issue_types", []) if t["id"] == values["jira_issue_type_id"]), ""
    )
    context["scope"] = {
        "mode": dict(ConnectedItem.Mode.choices).get(values["mode"], values["mode"]),
        "object": provider.object_label(values["helpdesk_object"]),
        "project": project["key"] if project else values["jira_project"],
        "issue_type": issue_type or values["jira_issue_type_id"],
    }
    # Step 1 carries these in hidden fields (so editing keeps what is configured); step 2 shows them.
    rows = [
        {**m, "values_text": "\n".join(f"{k}={v}" for k, v in (m.get("value_map") or {}).items())}
        for m in values["mappings"]
    ]
    field_errors = error.get("fields") or {}
    if step == 2:
        rows += [
            {"helpdesk_field": "", "jira_field": "", "direction": "to_jira", "values_text": "", "value_map": {}}
            for _ in range(MAPPING_ROWS_EXTRA)
        ]
        hd_by_id = {f["id"]: f for f in context.get("helpdesk_fields", [])}
        jf_by_id = {f["id"]: f for f in context.get("jira_fields", [])}
        for index, row in enumerate(rows):
            row["errors"] = [
                m for key, messages in field_errors.items() if key.startswith(f"mappings[{index}]") for m in messages
            ]
            try:
                row["value_rows"] = _value_rows(
                    tenant=tenant, row=row, hd=hd_by_id.get(row["helpdesk_field"]), jf=jf_by_id.get(row["jira_field"])
                )
            except ApplicationError as exc:
                row["value_rows"] = None
                context["schema_error"] = exc.message
        # helpdesk fields shown by their names, the chosen ones first
        chosen = values["display_fields"]
        context["display_choices"] = sorted(
            context.get("helpdesk_fields", []),
            key=lambda f: (f["id"] not in chosen, chosen.index(f["id"]) if f["id"] in chosen else 0),
        )
        context["no_display_fields"] = values["mode"] == ConnectedItem.Mode.DISPLAY and not chosen
    context["mapping_rows"] = rows
    context["other_errors"] = [
        (key, m)
        for key, messages in field_errors.items()
        if key.startswith("mappings[") and not any(key.startswith(f"mappings[{i}]") for i in range(len(rows)))
        for m in messages
    ]
    conditions = values.get("auto_create_conditions") or {}
    listed, failures = {}, {}
    if step == 2 and connection is not None and values["mode"] != ConnectedItem.Mode.DISPLAY:
        listed, failures = _condition_lists(tenant=tenant, connection=connection, provider=provider)
    context["conditions"] = _condition_rows(provider, conditions, context.get("helpdesk_fields"), listed, failures)
    context["carried_status_map"] = list((values.get("status_map") or {}).items())
    # carried in hidden fields where the creation fieldset is not shown (step 1, or a schema that failed)
    given = list((values.get("create_values") or {}).items())
    context["creation_carried"] = (
        [(name, values.get(name, "")) for name in CREATE_TEXT_DEFAULTS]
        + ([("create_from_jira", "on")] if values.get("create_from_jira") else [])
        + [("create_value_rows", str(len(given)))]
        + [
            pair
            for i, (fid, v) in enumerate(given)
            for pair in ((f"cv{i}_field", fid), (f"cv{i}_value", _shown_value(v)))
        ]
    )
    return render(request, "panel/admin_item_form.html", context, status=status)


def _item_new(request):
    _, provider = _current(request.tenant)
    values = _form_values(request.POST, provider)
    values.update(
        name="",
        mode=ConnectedItem.Mode.DISPLAY,
        jira_project="",
        jira_issue_type_id="",
        mappings=[],
        status_field="",
        status_map={},
    )
    if provider is not None:
        values["helpdesk_object"] = next(iter(provider.objects))
    return _render_item_form(request, step=1, values=values)


def _other_connection_refusal(item: ConnectedItem) -> ConflictError:
    brand = provider_for(item.connection.provider).brand
    return ConflictError(
        f"{item.name} belongs to the {brand} connection, which this site no longer uses: reconnect {brand} to "
        "edit it, or delete it.",
        code="item_other_connection",
    )


def _item_edit(request):
    item = item_get(tenant=request.tenant, item_id=_int(request.POST.get("item_id")))
    if item is None:
        return _render_home(request, error={"message": "That item no longer exists."}, status=404)
    connection, _ = _current(request.tenant)
    if connection is not None and item.connection_id != connection.pk:
        raise _other_connection_refusal(item)
    return _render_item_form(request, step=1, values=_values_from_item(item))


def _item_step1(request):
    """Scope submitted: check what step 2 needs before showing it."""
    _, provider = _current(request.tenant)
    values = _form_values(request.POST, provider)
    fields = {}
    name = values["name"].strip()
    if not name:
        fields["name"] = ["Give the item a name."]
    elif (
        ConnectedItem.objects.filter(tenant=request.tenant, name=name)
        .exclude(pk=_int(values["item_id"]) or None)
        .exists()
    ):
        fields["name"] = [f"Another item is already named {name!r}; choose another name."]
    if provider is not None and values["mode"] not in dict(_modes_for(provider, values["helpdesk_object"])):
        label = provider.object_label(values["helpdesk_object"])
        fields["mode"] = [f"{label} are display-only on {provider.label}: choose Display only."]
    if not values["jira_project"]:
        fields["jira_project"] = ["Choose the Jira project."]
    if values["mode"] != ConnectedItem.Mode.DISPLAY and not values["jira_issue_type_id"]:
        fields["jira_issue_type_id"] = ["Synchronized items need a Jira issue type."]
    if fields:
        return _render_item_form(
            request,
            step=1,
            values=values,
            error={
                "fields": fields,
                "message": "Complete the scope first."
                if not name or "jira_project" in fields or "jira_issue_type_id" in fields
                else "Correct the scope first: see the marked fields.",
            },
            status=400,
        )
    return _render_item_form(request, step=2, values=values)


def _item_preset(request):
    _, provider = _current(request.tenant)
    values = _form_values(request.POST, provider)
    fields = schema_service.jira_create_fields(
        tenant=request.tenant, project=values["jira_project"], issue_type_id=values["jira_issue_type_id"]
    )
    values["mappings"] = standard_ticket_preset(
        jira_fields=fields,
        jira_priorities=schema_service.jira_priorities(tenant=request.tenant),
        provider_key=provider.key if provider else "zendesk",
    )
    return _render_item_form(request, step=2, values=values, message="Standard mapping applied; review and save.")


def _item_save(request):
    connection, provider = _current(request.tenant)
    values = _form_values(request.POST, provider)
    if connection is None or connection.status == HelpdeskConnection.Status.REVOKED:
        raise NotConnected(f"{_not_connected_words(provider)}, then create or edit items.")
    item = item_get(tenant=request.tenant, item_id=_int(values["item_id"])) if values["item_id"] else None
    if item is not None and item.connection_id != connection.pk:
        raise _other_connection_refusal(item)
    spec = ItemSpec.from_data(values)
    saved, warnings = connected_item_save(tenant=request.tenant, connection=connection, spec=spec, item=item)
    if saved.mode == ConnectedItem.Mode.DISPLAY and not saved.display_fields:
        warnings = [
            *warnings,
            {
                "code": "no_display_fields",
                "message": f"{saved.name} shows no fields in the issue panel: agents see only each record's "
                "title. Edit it to choose the fields to show.",
            },
        ]
    note = " ".join(w["message"] for w in warnings)
    return _render_home(request, message=f"Saved {saved.name}. {note}".strip(), warnings=warnings)


def _item_delete(request):
    item = item_get(tenant=request.tenant, item_id=_int(request.POST.get("item_id")))
    if item is not None:
        item_delete(tenant=request.tenant, item=item)
    return _render_home(request, message="Item deleted." if item else "That item no longer exists.")


# --- tokens ------------------------------------------------------------------------------------------------


@sensitive_variables("token")
def _token_create(request):
    days = request.POST.get("token_expires_in_days", "").strip()
    if days and not days.isdigit():
        raise ValidationFailed(
            "Give the expiry as a whole number of days, or leave it empty.",
            code="token_invalid",
            extra={"fields": {"expires_in_days": ["A whole number of days."]}},
        )
    row, token = api_token_create(
        tenant=request.tenant,
        name=request.POST.get("token_name", ""),
        created_by=request.jira_account_id or "",
        scope=request.POST.get("token_scope", ApiToken.Scope.READ),
        expires_in_days=int(days) if days else None,
    )
    return _render_home(request, new_token=token, message=f"Token {row.name} created. Copy it now: it is shown once.")


def _token_revoke(request):
    api_token_revoke(tenant=request.tenant, token_id=_int(request.POST.get("token_id")))
    return _render_home(request, message="Token revoked.")


def _event_retry(request):
    queued = events_retry(tenant_id=request.tenant.pk, event_ids=[_int(request.POST.get("event_id"))])
    if not queued:
        raise NotFoundError("That event is not a failed event of this site (it may have been retried already).")
    _, provider = _current(request.tenant)
    brand = provider.brand if provider else "the helpdesk"
    return _render_home(request, message=f"Queued again: the issue's current state is being sent to {brand}.")


# --- broken links ----------------------------------------------------------------------------------------
# Links whose Jira issue or helpdesk record was deleted are listed on the page, each with Unlink. Unlinking goes
# through ``link_delete`` like the issue panel's (which judges the locked row, and keeps the item's linked count
# and the issue's badge true); only broken links are unlinked here.


def _broken_words(link: Link, provider: HelpdeskProvider) -> dict[str, str]:
    """What the page says of a broken link: the question asked before unlinking it, and what happened after."""
    noun = record_noun(provider, link.item.helpdesk_object)
    key, record, brand = link.jira_issue_key, f"{noun.lower()} {link.record_id}", provider.brand
    if link.issue_deleted_at is not None:
        ask = (
            f"{key} was deleted in Jira, so its link to {record} is broken. Unlinking removes the link only: "
            f"{record} stays in {brand} as it is."
        )
        done = f"Unlinked {key} from {record}. Nothing was deleted in {brand}."
    else:
        ask = (
            f"{noun} {link.record_id} was deleted in {brand}, so its link to {key} is broken. Unlinking removes the "
            f"link only: {key} stays as it is, and its Deskbridge panel can then link another {noun.lower()} or "
            "create a new one."
        )
        done = (
            f"Unlinked {key} from {record}, which was deleted in {brand}. Nothing was changed in Jira: {key}'s "
            f"Deskbridge panel can now link another {noun.lower()} or create a new one."
        )
    return {"title": f"Unlink {key} from {record}?", "label": f"Unlink {key} from {record}", "ask": ask, "done": done}


def _broken_words_attach(tenant, links: list[Link]) -> None:
    """Each listed broken link's words (``link.unlink``), in the words of its own item's helpdesk."""
    providers = dict(HelpdeskConnection.objects.filter(tenant=tenant).values_list("id", "provider"))
    for link in links:
        link.unlink = _broken_words(link, provider_for(providers[link.item.connection_id]))


def _broken_link(request) -> tuple[Link, dict[str, str]]:
    """The link the form names, of this site and broken, with its words; refused in words otherwise."""
    link = link_get(tenant=request.tenant, link_id=_int(request.POST.get("link_id")))
    if link is None:
        raise NotFoundError(
            "That link is not a link of this site (it may have been unlinked already). Reload the page.",
            code="link_not_found",
        )
    provider = provider_for(link.item.connection.provider)
    if link.issue_deleted_at is None and link.record_deleted_at is None:
        noun, key = record_noun(provider, link.item.helpdesk_object).lower(), link.jira_issue_key
        instead = (
            "it was made by auto-create, and sync keeps it while both exist."
            if link.origin == Link.Origin.AUTO
            else f"unlink it in {key}'s Deskbridge panel instead."
        )
        raise ConflictError(
            f"{key}'s link to {noun} {link.record_id} is not broken: the issue and the {noun} both exist, so it was "
            f"not unlinked. Only broken links are unlinked on this page; {instead}",
            code="link_not_broken",
        )
    return link, _broken_words(link, provider)


def _broken_unlink(request):
    link, words = _broken_link(request)
    link_delete(tenant=request.tenant, link=link)
    return _render_home(request, message=words["done"])


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


_ACTIONS = {
    "connect": _connect,
    "revoke": _revoke,
    "oauth_start": _oauth_start,
    "zoho_connect": _zoho_connect,
    "zoho_org": _zoho_org,
    "refresh": _refresh,
    "home": lambda request: _render_home(request),
    "sync_now": _sync_now,
    "item_new": _item_new,
    "item_edit": _item_edit,
    "item_step1": _item_step1,
    "item_reload": lambda request: _render_item_form(request, step=1),
    "item_step2": _item_step1,
    "item_back": lambda request: _render_item_form(request, step=1),
    "item_status_reload": lambda request: _render_item_form(request, step=2),
    "item_preset": _item_preset,
    "item_save": _item_save,
    "item_delete": _item_delete,
    "token_create": _token_create,
    "token_revoke": _token_revoke,
    "event_retry": _event_retry,
    "broken_unlink": _broken_unlink,
}


def _oauth_cookie_path() -> str:
    return reverse("panel:zendesk-oauth-callback").rsplit("/", 1)[0] + "/"


OAUTH_CONFIRM_COOKIE = "deskbridge_zd_confirm"


def _oauth_page(request, context: dict, status: int = 400):
    return render(request, "panel/oauth_done.html", context, status=status)


@require_http_methods(["GET", "POST"])
@never_cache
@csrf_exempt  # POSTs carry the page session (admin page) or the double-submit confirmation token
@sensitive_post_parameters("session", "state", "confirm")
def zendesk_oauth_start_view(request):
    """Opens "Connect with Zendesk" in a browser window (top level, our own site).

    From the admin page, a form posts the attempt's ``state`` with the admin's page session, so only the
    Jira user who started it can open it. A script's attempt (API token) is opened with GET: a confirmation
    page names the Jira site and the Zendesk account, and its button posts back with a token that must match
    a SameSite=Strict cookie (so no other site can submit it). Opening binds this browser to the attempt with
    a cookie and sends it to Zendesk's consent page."""
    state = request.POST.get("state") or request.GET.get("state", "")
    try:
        if request.method == "GET":
            return _oauth_confirm_page(request, state)
        if "session" in request.POST:
            principal = page_session_read(request.POST["session"])
            url, nonce = zendesk_oauth_open(state=state, account_id=principal.account_id, tenant_id=principal.tenant.pk)
        else:
            confirm, cookie = request.POST.get("confirm", ""), request.COOKIES.get(OAUTH_CONFIRM_COOKIE, "")
            if not confirm or not cookie or not secrets.compare_digest(confirm, cookie):
                raise ValidationFailed(
                    "Confirm the connection on the Deskbridge page that the link opens.", code="oauth_unconfirmed"
                )
            url, nonce = zendesk_oauth_open(state=state)
    except ApplicationError as exc:
        return _oauth_page(request, {"ok": False, "message": exc.message, "code": exc.code})
    response = HttpResponseRedirect(url)
    response.set_cookie(
        OAUTH_COOKIE,
        signing.get_cookie_signer(salt=OAUTH_COOKIE).sign(nonce),
        max_age=OAUTH_STATE_MAX_AGE,
        path=_oauth_cookie_path(),
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",  # sent on Zendesk's top-level redirect back to the callback
    )
    response.delete_cookie(OAUTH_CONFIRM_COOKIE, path=_oauth_cookie_path(), samesite="Strict")
    return response


def _oauth_confirm_page(request, state: str):
    attempt = zendesk_oauth_attempt_get(state=state)
    if not attempt.account_id.startswith(API_TOKEN_ACCOUNT_PREFIX):
        raise ValidationFailed(
            "Open Connect with Zendesk from the Deskbridge admin page in Jira (Apps → Deskbridge).",
            code="oauth_user_mismatch",
        )
    confirm = secrets.token_urlsafe(24)
    context = {
        "confirm_needed": True,
        "state": state,
        "confirm": confirm,
        "site": attempt.tenant.display_url or attempt.tenant.base_url,
        "subdomain": attempt.subdomain,
    }
    response = _oauth_page(request, context, status=200)
    response.set_cookie(
        OAUTH_CONFIRM_COOKIE,
        confirm,
        max_age=OAUTH_STATE_MAX_AGE,
        path=_oauth_cookie_path(),
        secure=request.is_secure(),
        httponly=True,
        samesite="Strict",
    )
    return response


@require_GET
@never_cache
@sensitive_variables("code")
def zendesk_oauth_callback(request):
    """Zendesk redirects the admin's browser here (a top-level window, not the iframe)."""
    error = request.GET.get("error")
    try:
        browser_nonce = signing.get_cookie_signer(salt=OAUTH_COOKIE).unsign(request.COOKIES.get(OAUTH_COOKIE, ""))
    except signing.BadSignature:
        browser_nonce = ""
    try:
        tenant, subdomain = zendesk_oauth_callback_accept(
            state=request.GET.get("state", ""), browser_nonce=browser_nonce
        )
        if error:
            raise ApplicationError(
                f"Zendesk did not authorize Deskbridge ({request.GET.get('error_description') or error}). "
                "Start again with Connect with Zendesk if this was a mistake.",
                code="oauth_denied",
            )
        connection = zendesk_oauth_complete(tenant=tenant, subdomain=subdomain, code=request.GET.get("code", ""))
        context, status = {"ok": True, "connection": connection}, 200
    except ApplicationError as exc:
        context, status = {"ok": False, "message": exc.message, "code": exc.code}, 400
    response = render(request, "panel/oauth_done.html", context, status=status)
    response.delete_cookie(OAUTH_COOKIE, path=_oauth_cookie_path(), samesite="Lax")
    return response
