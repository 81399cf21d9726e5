"""Creating a helpdesk record from a Jira issue (Jira → helpdesk): the record is built from the item's
mappings, made for the issue's reporter, tagged with where it came from, and linked like a record linked by
hand. No duplicates under crash and retry: the intent (``RecordCreate``) is written before the helpdesk is
called, and a pending intent found again looks the record up by its tag before creating another."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import ConflictError, NotFoundError, ValidationFailed
from connector import schema as schema_service
from connector.adf import adf_to_html
from connector.clients.base import ApiBadRequest, ApiError, is_numeric_id
from connector.mapping import ValueNotMapped, helpdesk_value, rule_for
from connector.models import ConnectedItem, FieldMapping
from connector.providers import client_for, provider_for
from tenants.models import Tenant

from .errors import LinkExists
from .models import Link, RecordCreate
from .services import helpdesk_failure, issue_for_item, link_create, require_usable

logger = logging.getLogger(__name__)

#: a pending creation younger than this is taken to be in progress elsewhere (a second request is refused)
IN_PROGRESS_SECONDS = 120


class RecordCreateUnavailable(ValidationFailed):
    default_code = "record_create_unavailable"


class RequiredFieldsMissing(ValidationFailed):
    default_code = "required_fields_missing"


class HelpdeskRefused(ValidationFailed):
    default_code = "helpdesk_refused"


class IssueMissing(NotFoundError):
    default_code = "issue_not_found"


class CreateInProgress(ConflictError):
    default_code = "record_create_in_progress"


@dataclass
class CreateResult:
    link: Link
    record_id: str
    record_url: str
    warnings: list[str] = field(default_factory=list)


def _mapped_values(
    *, item: ConnectedItem, provider, issue_fields: dict[str, Any], jira_types: dict[str, str], helpdesk: dict
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """Helpdesk field → value for a new record from the issue, through every mapping whose helpdesk field a
    new record may take: Jira → helpdesk mappings as they are, helpdesk → Jira ones reversed (their value map
    read backwards) where the types allow it. Returns the values, the HTML of rich text values, and why any
    field was left out."""
    readonly = provider.create_readonly_fields(item.helpdesk_object)
    values: dict[str, Any] = {}
    html: dict[str, str] = {}
    skipped: list[str] = []
    mappings = sorted(item.mappings.all(), key=lambda m: m.direction != FieldMapping.Direction.TO_HELPDESK)
    for mapping in mappings:  # Jira → helpdesk mappings first: they win over a reversed one of the same field
        target = mapping.helpdesk_field
        if target in values or target in readonly:
            continue
        helpdesk_type = (helpdesk.get(target) or {"type": "text"})["type"]
        jira_type = jira_types.get(mapping.jira_field, "text")
        rule = rule_for("to_helpdesk", helpdesk_type, jira_type)
        if rule is None:
            continue  # e.g. a helpdesk drop-down mapped to a Jira text field: Jira's text has no option to go back
        value_map = mapping.value_map or {}
        if mapping.direction == FieldMapping.Direction.TO_JIRA:
            reversed_map: dict[str, str] = {}
            for helpdesk_value_, jira_value in value_map.items():
                reversed_map.setdefault(str(jira_value), str(helpdesk_value_))
            value_map = reversed_map
        raw = issue_fields.get(mapping.jira_field)
        try:
            value = helpdesk_value(
                rule=rule, value=raw, jira_type=jira_type, helpdesk_type=helpdesk_type, value_map=value_map
            )
        except ValueNotMapped as exc:
            skipped.append(f"{target} was left empty: {exc}")
            continue
        if value is None or value == []:
            continue
        values[target] = value
        if isinstance(raw, dict) and raw.get("type") == "doc" and helpdesk_type == "textarea":
            html[target] = adf_to_html(raw)
    return values, html, skipped


def _issue(tenant: Tenant, item: ConnectedItem, issue_id: str) -> dict[str, Any]:
    wanted = {"summary", "description", "reporter", "status"} | {m.jira_field for m in item.mappings.all()}
    return issue_for_item(tenant=tenant, item=item, issue_id=issue_id, fields=sorted(wanted), not_found=IssueMissing)


def _intent_take(*, tenant: Tenant, item: ConnectedItem, issue_id: str, actor: str) -> RecordCreate:
    """The issue's creation intent, taken for this attempt (written and committed before any helpdesk call)."""
    now = timezone.now()
    with transaction.atomic():
        intent = RecordCreate.objects.select_for_update().filter(item=item, jira_issue_id=issue_id).first()
        if intent is not None and intent.state == RecordCreate.State.DONE:
            # Its link was removed since: this is a new request for a new record, with a new tag.
            intent.delete()
            intent = None
        if intent is None:
            try:
                with transaction.atomic():
                    intent = RecordCreate.objects.create(
                        tenant=tenant, item=item, jira_issue_id=issue_id, source_key="", created_by=actor
                    )
            except IntegrityError:
                raise CreateInProgress(
                    "This issue's record is being created by another request. Reload in a moment.",
                    extra={"issue_id": issue_id},
                ) from None
            intent.source_key = f"deskbridge-{item.external_id}-{issue_id}-{intent.pk}"
        elif intent.attempted_at and intent.attempted_at > now - timedelta(seconds=IN_PROGRESS_SECONDS):
            # another request is between its helpdesk call and its link (or died there: retried after a while)
            raise CreateInProgress(
                "This issue's record is being created by another request. Reload in a moment.",
                extra={"issue_id": issue_id},
            )
        intent.state = RecordCreate.State.PENDING
        intent.attempts += 1
        intent.attempted_at = now
        intent.error = ""
        intent.save()
    return intent


def _intent_release(intent: RecordCreate, error: str) -> None:
    """The attempt ended without a record: a retry may come at once (the intent stays, with its tag)."""
    RecordCreate.objects.filter(pk=intent.pk).update(attempted_at=None, error=error[:2000])


def record_create_for_issue(
    *, tenant: Tenant, item: ConnectedItem, issue_id: str, values: dict[str, Any] | None = None, actor: str = ""
) -> CreateResult:
    """Create a helpdesk record from Jira issue ``issue_id`` through ``item`` and link it (origin manual, the
    link note as usual). ``values`` (helpdesk field id → value) override what the mappings give."""
    if item.tenant_id != tenant.pk:
        raise ValueError("item belongs to another tenant")
    issue_id = str(issue_id).strip()
    provider = provider_for(item.connection.provider)
    if not item.is_synchronized:
        raise RecordCreateUnavailable(
            f"{item.name} is display-only: records are created from Jira only through a synchronized item. A Jira "
            "admin can make it two-way on the Deskbridge admin page.",
            extra={"item": item.pk},
        )
    if item.helpdesk_object not in provider.creatable_objects:
        raise RecordCreateUnavailable(
            f"Deskbridge cannot create {provider.label} {provider.object_label(item.helpdesk_object).lower()} from "
            "Jira yet; create the record in the helpdesk and link it instead.",
            extra={"item": item.pk},
        )
    require_usable(item)
    if not is_numeric_id(issue_id):
        raise ValidationFailed("issue_id must be the numeric Jira issue id.", extra={"issue_id": issue_id})
    existing = Link.objects.filter(tenant=tenant, item=item, jira_issue_id=issue_id).first()
    if existing is not None:
        raise LinkExists(
            f"{existing.jira_issue_key} is already linked to {existing.record_id} in {item.name}.",
            extra={"issue_id": issue_id, "record_id": existing.record_id},
        )
    issue = _issue(tenant, item, issue_id)
    issue_fields = issue.get("fields") or {}
    helpdesk = {
        f["id"]: f
        for f in schema_service.helpdesk_fields(
            tenant=tenant, connection=item.connection, helpdesk_object=item.helpdesk_object
        )
    }
    jira_types = {f["id"]: f["type"] for f in schema_service.jira_fields(tenant=tenant)}
    mapped, html, warnings = _mapped_values(
        item=item, provider=provider, issue_fields=issue_fields, jira_types=jira_types, helpdesk=helpdesk
    )
    overrides = dict(values or {})
    readonly = sorted(set(overrides) & provider.create_readonly_fields(item.helpdesk_object))
    if readonly:
        raise ValidationFailed(
            f"{', '.join(readonly)} cannot be given to a new {provider.brand} record; leave it out.",
            extra={"fields": readonly},
        )
    for key in overrides:
        html.pop(key, None)  # a value given by the caller is sent as given
    final = {**mapped, **overrides}
    required = provider.create_required_fields(item.helpdesk_object, list(helpdesk.values()))
    missing = [fid for fid in required if final.get(fid) in (None, "", [])]
    if missing:
        labels = ", ".join(required[f] for f in missing)
        raise RequiredFieldsMissing(
            f"A new {provider.brand} record needs {labels}, and the issue gives no value through {item.name}'s "
            f"mappings. Fill {'it' if len(missing) == 1 else 'them'} in (values), or have a Jira admin map "
            f"{'it' if len(missing) == 1 else 'them'} on the Deskbridge admin page.",
            extra={"fields": missing},
        )
    try:
        body = provider.create_payload(item.helpdesk_object, final, html=html)
    except ValueNotMapped as exc:
        raise ValidationFailed(f"The record cannot be written: {exc}.") from exc

    client = client_for(item.connection)
    reporter = issue_fields.get("reporter") or {}
    email = str(reporter.get("emailAddress") or "").strip()
    intent = _intent_take(tenant=tenant, item=item, issue_id=issue_id, actor=actor)
    try:
        record_id = intent.record_id
        record: dict[str, Any] | None = None
        if not record_id and intent.attempts > 1:  # an earlier attempt may have created it
            record = provider.record_find_by_source(client, item.helpdesk_object, intent.source_key)
        if not record_id and record is None:
            if email:
                body = {
                    **body,
                    **provider.requester_part(client, item.helpdesk_object, email=email, name=_name(reporter)),
                }
            elif reporter:
                warnings.append(
                    f"Jira hides the email address of {reporter.get('displayName') or 'the reporter'} from apps (their "
                    f"profile visibility setting), so the {provider.brand} record is requested by the connected "
                    "agent instead."
                )
            record = provider.record_create(client, item.helpdesk_object, body, source_key=intent.source_key)
        if not record_id:
            record_id = str((record or {}).get("id") or "")
            RecordCreate.objects.filter(pk=intent.pk).update(record_id=record_id)
    except ApiBadRequest as exc:
        _intent_release(intent, exc.message)
        raise HelpdeskRefused(
            f"{provider.brand} refused the new record: {exc.message}. Correct the values and try again."
        ) from exc
    except ApiError as exc:
        _intent_release(intent, exc.message)
        raise helpdesk_failure(exc, item) from exc
    except Exception as exc:
        _intent_release(intent, str(exc))
        raise
    try:
        link = link_create(
            tenant=tenant,
            item=item,
            issue_id=issue_id,
            issue_key=str(issue.get("key") or ""),
            record_id=record_id,
            origin=Link.Origin.MANUAL,
            actor=actor,
        )
    except Exception as exc:
        _intent_release(intent, str(exc))
        raise
    RecordCreate.objects.filter(pk=intent.pk).update(state=RecordCreate.State.DONE, attempted_at=timezone.now())
    if getattr(link, "note_warning", ""):
        warnings.append(link.note_warning)
    logger.info(
        "record created from Jira: tenant=%s item=%s %s → %s", tenant.pk, item.pk, link.jira_issue_key, record_id
    )
    return CreateResult(
        link=link,
        record_id=record_id,
        record_url=provider.record_url(item.connection, item.helpdesk_object, record_id),
        warnings=warnings,
    )


def _name(user: dict[str, Any]) -> str:
    return str(user.get("displayName") or user.get("emailAddress") or "").strip()
