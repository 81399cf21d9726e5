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
from connector.creation import create_sources
from connector.mapping import ValueNotMapped, helpdesk_value
from connector.models import ConnectedItem
from connector.providers import client_for, provider_for
from tenants.models import Tenant

from .engine import _owner, _owner_is_dead
from .errors import LinkExists
from .models import Link, RecordCreate
from .services import helpdesk_failure, issue_for_item, link_create, require_usable

logger = logging.getLogger(__name__)

#: a pending creation younger than this is taken to be in progress elsewhere (a second request is refused)
IN_PROGRESS_SECONDS = 120
IN_PROGRESS_MESSAGE = "This issue's record is being created by another request. Reload in a moment."


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
class CreateContext:
    """What creations read once and share: the helpdesk client, the schemas, and the people and organizations
    already found or made (a run that creates many records looks each email or name up once)."""

    client: Any = None
    jira_types: dict[str, str] | None = None
    helpdesk: dict[str, dict[str, Any]] | None = None
    people: dict[tuple[str, str], dict[str, str] | None] = field(default_factory=dict)

    def found(self, key: tuple[str, str], look_up) -> dict[str, str] | None:
        """A person or organization looked up once per context (``look_up()`` the first time)."""
        if key not in self.people:
            self.people[key] = look_up()
        return self.people[key]

    def helpdesk_client(self, item: ConnectedItem):
        if self.client is None:
            self.client = client_for(item.connection)
        return self.client


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
    values: dict[str, Any] = {}
    html: dict[str, str] = {}
    skipped: list[str] = []
    sources = create_sources(
        item.mappings.all(),
        helpdesk_types={field_id: f["type"] for field_id, f in helpdesk.items()},
        jira_types=jira_types,
        readonly=provider.create_readonly_fields(item.helpdesk_object),
    )
    for source in sources:  # Jira → helpdesk mappings first: they win over a reversed one of the same field
        target = source.helpdesk_field
        if target in values:
            continue
        raw = issue_fields.get(source.jira_field)
        try:
            value = helpdesk_value(
                rule=source.rule,
                value=raw,
                jira_type=source.jira_type,
                helpdesk_type=source.helpdesk_type,
                value_map=source.value_map,
            )
        except ValueNotMapped as exc:
            skipped.append(f"{target} was left empty: {exc}")
            continue
        if value is None or value == []:
            continue
        values[target] = value
        if isinstance(raw, dict) and raw.get("type") == "doc" and source.helpdesk_type == "textarea":
            html[target] = adf_to_html(raw)
    return values, html, skipped


def _wanted_fields(item: ConnectedItem) -> list[str]:
    """The Jira fields a creation reads from the issue."""
    wanted = {"summary", "description", "reporter", "status", "created", "project", "issuetype"}
    wanted |= {m.jira_field for m in item.mappings.all()}
    wanted |= {f for f in (item.requester_field, item.organization_field) if f}
    return sorted(wanted)


def _issue(tenant: Tenant, item: ConnectedItem, issue_id: str) -> dict[str, Any]:
    return issue_for_item(
        tenant=tenant, item=item, issue_id=issue_id, fields=_wanted_fields(item), not_found=IssueMissing
    )


def _check_creatable(item: ConnectedItem, provider) -> None:
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
    if provider.record_tag_required(item.helpdesk_object) and not item.record_tag_field:
        raise RecordCreateUnavailable(
            f"{item.name} names no field to tag created {provider.brand} records with their Jira issue, so a retry "
            "could not find a record made before a failure. A Jira admin chooses that field on the Deskbridge admin "
            "page.",
            extra={"item": item.pk},
        )


def _schemas(tenant: Tenant, item: ConnectedItem, ctx: CreateContext) -> tuple[dict[str, dict], dict[str, str]]:
    if ctx.helpdesk is None:
        ctx.helpdesk = {
            f["id"]: f
            for f in schema_service.helpdesk_fields(
                tenant=tenant, connection=item.connection, helpdesk_object=item.helpdesk_object
            )
        }
    if ctx.jira_types is None:
        ctx.jira_types = {f["id"]: f["type"] for f in schema_service.jira_fields(tenant=tenant)}
    return ctx.helpdesk, ctx.jira_types


def _user_of(value: Any) -> dict[str, Any]:
    """A Jira user field's person (the first of a multi-user field)."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


def _organization_name(value: Any) -> str:
    """A name from a Jira field: text, an option (``value``), or JSM organizations (the first ``name``)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("name") or value.get("value") or value.get("displayName")
    return str(value or "").strip()


def _organization_key(rule: str, name: str, domain: str) -> tuple[str, str]:
    """Where a run keeps the organization of a name or domain (``CreateContext.people``)."""
    return ("organization", f"{rule}:{(name or domain).lower()}")


@dataclass
class People:
    """Who a new record is for, and what was decided on the way (the notes say it in words)."""

    person_id: str = ""
    person_label: str = ""
    organization_id: str = ""
    organization_label: str = ""
    notes: list[str] = field(default_factory=list)
    #: an email no helpdesk person has (``person_find`` said so), to be made at creation (person_create)
    new_person: tuple[str, str] | None = None
    #: an organization no helpdesk record is, to be made at creation (organization_create)
    new_organization: tuple[str, str] | None = None


def _people(*, item: ConnectedItem, provider, ctx: CreateContext, issue_fields: dict[str, Any]) -> People:
    """The record's person and organization by the item's rules, looked up (never made here: ``_people_make``
    makes what is missing, at creation time)."""
    wants = provider.create_people(item.helpdesk_object)
    people = People()
    if not wants:
        return people
    client = ctx.helpdesk_client(item)
    user = _user_of(issue_fields.get(item.requester_field or "reporter"))
    email = str(user.get("emailAddress") or "").strip().lower()
    name = str(user.get("displayName") or email).strip()
    person: dict[str, str] | None = None
    if "requester" in wants:
        if email:
            person = ctx.found(("person", email), lambda: provider.person_find(client, email))
        if person:
            people.person_id, people.person_label = person["id"], f"{person['name']} <{person['email']}>"
        elif email and item.requester_rule == ConnectedItem.RequesterRule.MATCH_OR_CREATE:
            people.new_person = (email, name)
            people.person_label = f"{name} <{email}> (new in {provider.brand})"
        else:
            if email:
                people.notes.append(f"No {provider.brand} person has the email {email}.")
            elif user:
                people.notes.append(
                    f"Jira hides the email address of {user.get('displayName') or 'the reporter'} from apps (their "
                    "profile visibility setting)."
                )
            else:
                people.notes.append("The issue names no requester.")
            if item.default_requester_id:
                people.person_id = item.default_requester_id
                people.person_label = item.default_requester_label or item.default_requester_id
                people.notes.append(f"The record is requested by the default requester, {people.person_label}.")
            else:
                people.notes.append(f"The record is requested by the connected {provider.brand} agent.")
    rule = item.organization_rule
    if "organization" in wants and rule != ConnectedItem.OrganizationRule.NONE:
        org: dict[str, str] | None = None
        name_wanted = _organization_name(issue_fields.get(item.organization_field)) if rule == "name" else ""
        domain = email.rpartition("@")[2] if rule == "domain" and email else ""
        if person and person.get("organization_id") and rule == "domain":
            org = {"id": person["organization_id"], "name": ""}  # the helpdesk put the person in it by domain
        elif name_wanted or domain:
            org = ctx.found(
                _organization_key(rule, name_wanted, domain),
                lambda: provider.organization_find(client, name=name_wanted, domain=domain),
            )
        what = f"named {name_wanted}" if name_wanted else f"for {domain}" if domain else ""
        if org:
            people.organization_id = org["id"]
            people.organization_label = org.get("name") or org["id"]
        elif what and item.organization_missing == ConnectedItem.OrganizationMissing.CREATE:
            people.new_organization = (name_wanted, domain)
            people.organization_label = f"{name_wanted or domain} (new in {provider.brand})"
        else:
            if what:
                people.notes.append(f"No {provider.brand} organization {what}.")
            else:
                people.notes.append("The issue gives no organization to match.")
            if item.organization_missing == ConnectedItem.OrganizationMissing.DEFAULT and item.default_organization_id:
                people.organization_id = item.default_organization_id
                people.organization_label = item.default_organization_label or item.default_organization_id
                people.notes.append(f"The default organization, {people.organization_label}, is used.")
    return people


def _people_make(*, item: ConnectedItem, provider, ctx: CreateContext, people: People) -> None:
    """Make the person and organization ``_people`` found missing (upserts: a retry finds the first call's)."""
    client = ctx.helpdesk_client(item)
    if (
        people.new_person is not None
        and item.organization_rule == ConnectedItem.OrganizationRule.DOMAIN
        and provider.assigns_people_by_domain
    ):
        # the helpdesk may put a new person in the organization that owns their domain (Zendesk does): make
        # the person first and keep that organization rather than making a second one for the domain
        email, name = people.new_person
        person = provider.person_create(client, email=email, name=name, searched=True)
        people.person_id, people.new_person = person["id"], None
        ctx.people[("person", email)] = person
        if person.get("organization_id"):
            people.organization_id, people.new_organization = person["organization_id"], None
    if people.new_organization is not None:
        name, domain = people.new_organization
        org = provider.organization_create(client, name=name, domain=domain)
        people.organization_id, people.organization_label = org["id"], org.get("name") or org["id"]
        ctx.people[_organization_key(item.organization_rule, name, domain)] = org
        people.new_organization = None
    if people.new_person is not None:
        email, name = people.new_person
        person = provider.person_create(
            client, email=email, name=name, organization_id=people.organization_id, searched=True
        )
        people.person_id = person["id"]
        ctx.people[("person", email)] = person
        people.new_person = None


def _values_for(
    *, item: ConnectedItem, provider, issue_fields, helpdesk, jira_types, overrides: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The new record's field values: the item's values for new records (``create_values``), under what the
    mappings give (``_mapped_values``), under the caller's ``overrides``."""
    mapped, html, warnings = _mapped_values(
        item=item, provider=provider, issue_fields=issue_fields, jira_types=jira_types, helpdesk=helpdesk
    )
    readonly_all = provider.create_readonly_fields(item.helpdesk_object)
    fixed = {}
    for field_id, value in (item.create_values or {}).items():
        if field_id in helpdesk and field_id not in readonly_all:
            fixed[field_id] = value
        else:  # the field was removed from the helpdesk (or made read-only) since the item was saved
            warnings.append(
                f"{field_id} was left out: {provider.brand} takes no such field on new records any more. A Jira admin "
                f"can remove its value for new records from {item.name} on the Deskbridge admin page."
            )
    readonly = sorted(set(overrides) & readonly_all)
    if readonly:
        raise ValidationFailed(
            f"{', '.join(readonly)} cannot be given to a new {provider.brand} record; leave it out.",
            extra={"fields": readonly},
        )
    unknown = sorted(k for k in overrides if k not in helpdesk)
    if unknown:
        raise ValidationFailed(
            f"{provider.brand} {provider.object_label(item.helpdesk_object).lower()} records have no field "
            f"{', '.join(unknown)}.",
            extra={"fields": unknown},
        )
    for key in overrides:
        html.pop(key, None)  # a value given by the caller is sent as given
    return {**fixed, **mapped, **overrides}, html, warnings


def _refuse_linked(tenant: Tenant, item: ConnectedItem, issue_id: str) -> None:
    existing = Link.objects.filter(tenant=tenant, item=item, jira_issue_id=issue_id).first()
    if existing is not None:
        raise LinkExists(
            f"{existing.jira_issue_key} is already linked to {existing.record_id} in {item.name}.",
            extra={"issue_id": issue_id, "record_id": existing.record_id},
        )


def _choices(item: ConnectedItem, provider, ctx: CreateContext, field_id: str) -> list[dict[str, str]]:
    """A field's values read from the helpdesk where its schema lists none (Zoho's departments)."""
    if field_id not in provider.condition_choice_keys:
        return []
    try:
        return list(provider.condition_choices(ctx.helpdesk_client(item), field_id) or [])
    except ApiError:
        return []  # the form then takes the value typed: the helpdesk judges it at creation


@dataclass
class _Draft:
    """A new record as the item's mappings (and the caller's values) make it from the issue, checked."""

    provider: Any
    ctx: CreateContext
    issue_id: str
    issue: dict[str, Any]
    issue_fields: dict[str, Any]
    helpdesk: dict[str, dict[str, Any]]
    values: dict[str, Any]
    html: dict[str, str]
    warnings: list[str]


def _draft(
    *,
    tenant: Tenant,
    item: ConnectedItem,
    issue_id: str,
    ctx: CreateContext,
    issue: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
) -> _Draft:
    """The checks the preview and the creation share (the item can create, the id is an issue's id, the
    issue is not linked through the item yet), then the issue (read unless given) and the values."""
    if item.tenant_id != tenant.pk:
        raise ValueError("item belongs to another tenant")
    provider = provider_for(item.connection.provider)
    _check_creatable(item, provider)
    require_usable(item)
    issue_id = str(issue_id).strip()
    if not is_numeric_id(issue_id):
        raise ValidationFailed("issue_id must be the numeric Jira issue id.", extra={"issue_id": issue_id})
    _refuse_linked(tenant, item, issue_id)
    if issue is None:
        issue = _issue(tenant, item, issue_id)
    issue_fields = issue.get("fields") or {}
    helpdesk, jira_types = _schemas(tenant, item, ctx)
    values, html, warnings = _values_for(
        item=item,
        provider=provider,
        issue_fields=issue_fields,
        helpdesk=helpdesk,
        jira_types=jira_types,
        overrides=overrides or {},
    )
    return _Draft(provider, ctx, issue_id, issue, issue_fields, helpdesk, values, html, warnings)


def record_create_preview(*, tenant: Tenant, item: ConnectedItem, issue_id: str) -> dict[str, Any]:
    """What ``record_create_for_issue`` would send for the issue, for a form to show and adjust: the fields
    (required ones and those the mappings fill), the requester and organization the item's rules find, and
    warnings. Reads only (nothing is made in the helpdesk)."""
    draft = _draft(tenant=tenant, item=item, issue_id=issue_id, ctx=CreateContext())
    provider, helpdesk, values, html = draft.provider, draft.helpdesk, draft.values, draft.html
    required = provider.create_required_fields(item.helpdesk_object, list(helpdesk.values()))
    readonly = provider.create_readonly_fields(item.helpdesk_object)
    order = list(required) + [fid for fid in values if fid not in required]
    fields = []
    for fid in order:
        meta = helpdesk.get(fid) or {"id": fid, "label": required.get(fid, fid), "type": "text", "options": []}
        if fid in readonly and fid not in required:
            continue
        fields.append(
            {
                "id": fid,
                "label": required.get(fid) or meta.get("label") or fid,
                "type": meta.get("type") or "text",
                "required": fid in required,
                "value": values.get(fid),
                "options": list(meta.get("options") or []) or _choices(item, provider, draft.ctx, fid),
                "html": fid in html,
            }
        )
    try:
        people = _people(item=item, provider=provider, ctx=draft.ctx, issue_fields=draft.issue_fields)
    except ApiError as exc:
        raise helpdesk_failure(exc, item) from exc
    return {
        "issue": {"id": draft.issue_id, "key": str(draft.issue.get("key") or "")},
        "object": item.helpdesk_object,
        "object_label": provider.object_label(item.helpdesk_object),
        "brand": provider.brand,
        "fields": fields,
        "requester": {"label": people.person_label},
        "organization": {"label": people.organization_label},
        "warnings": draft.warnings + ([" ".join(people.notes)] if people.notes else []),
    }


def _intent_take(
    *, tenant: Tenant, item: ConnectedItem, issue_id: str, actor: str, automatic: bool = False
) -> RecordCreate:
    """The issue's creation intent, taken for this attempt (written and committed before any helpdesk call)."""
    now = timezone.now()
    with transaction.atomic():
        intent = (
            RecordCreate.objects.select_for_update().filter(tenant=tenant, item=item, jira_issue_id=issue_id).first()
        )
        if intent is not None and intent.state == RecordCreate.State.DONE:
            if Link.objects.filter(tenant=tenant, item=item, jira_issue_id=issue_id).exists():
                # made by a request that finished after this one checked for a link
                raise LinkExists(f"The issue is already linked through {item.name}.", extra={"issue_id": issue_id})
            # Its link was removed since: this is a new request for a new record, with a new tag.
            intent.delete()
            intent = None
        if intent is None:
            try:
                with transaction.atomic():
                    intent = RecordCreate.objects.create(
                        tenant=tenant,
                        item=item,
                        jira_issue_id=issue_id,
                        source_key="",
                        created_by=actor,
                        automatic=automatic,
                    )
            except IntegrityError:
                raise CreateInProgress(IN_PROGRESS_MESSAGE, extra={"issue_id": issue_id}) from None
        elif (
            intent.attempted_at
            and intent.attempted_at > now - timedelta(seconds=IN_PROGRESS_SECONDS)
            and not _owner_is_dead(intent.attempt_owner)
        ):
            # another request is between its helpdesk call and its link (or died there: retried after a while,
            # or at once when its process on this machine is gone)
            raise CreateInProgress(IN_PROGRESS_MESSAGE, extra={"issue_id": issue_id})
        if not intent.source_key:  # new, or recorded as refused before any attempt (auto-create)
            intent.source_key = f"deskbridge-{item.external_id}-{issue_id}-{intent.pk}"
        intent.state = RecordCreate.State.PENDING
        intent.attempts += 1
        intent.attempted_at = now
        intent.attempt_owner = _owner()
        intent.error = ""
        intent.save()
    return intent


def _intent_release(intent: RecordCreate, error: str) -> None:
    """The attempt ended without a record: a retry may come at once (the intent stays, with its tag)."""
    RecordCreate.objects.filter(pk=intent.pk).update(attempted_at=None, error=error[:2000])


def record_create_for_issue(
    *,
    tenant: Tenant,
    item: ConnectedItem,
    issue_id: str,
    values: dict[str, Any] | None = None,
    actor: str = "",
    issue: dict[str, Any] | None = None,
    automatic: bool = False,
    ctx: CreateContext | None = None,
) -> CreateResult:
    """Create a helpdesk record from Jira issue ``issue_id`` through ``item`` and link it (origin manual, the
    link note as usual; ``automatic``: made by auto-create, origin auto). ``values`` (helpdesk field id →
    value) override what the mappings give. ``issue`` (with ``_wanted_fields``) saves reading it again;
    ``ctx`` shares clients, schemas and people between the creations of one run."""
    ctx = ctx or CreateContext()
    draft = _draft(tenant=tenant, item=item, issue_id=issue_id, ctx=ctx, issue=issue, overrides=dict(values or {}))
    provider, helpdesk, final, html, warnings = draft.provider, draft.helpdesk, draft.values, draft.html, draft.warnings
    issue_id, issue, issue_fields = draft.issue_id, draft.issue, draft.issue_fields
    required = provider.create_required_fields(item.helpdesk_object, list(helpdesk.values()))
    missing = [fid for fid in required if final.get(fid) in (None, "", [])]
    if missing:
        labels = ", ".join(required[f] for f in missing)
        raise RequiredFieldsMissing(
            f"A new {provider.brand} record needs {labels}, and the issue gives no value through {item.name}'s "
            f"mappings. Fill {'it' if len(missing) == 1 else 'them'} in, or have a Jira admin map "
            f"{'it' if len(missing) == 1 else 'them'} on the Deskbridge admin page.",
            extra={"fields": missing},
        )
    try:
        body = provider.create_payload(item.helpdesk_object, final, html=html)
    except ValueNotMapped as exc:
        raise ValidationFailed(
            f"The record cannot be written: {exc}. Correct the value, or have a Jira admin change the item's mapping."
        ) from exc

    client = ctx.helpdesk_client(item)
    intent = _intent_take(tenant=tenant, item=item, issue_id=issue_id, actor=actor, automatic=automatic)
    try:
        record_id = intent.record_id
        record: dict[str, Any] | None = None
        if not record_id and intent.attempts > 1:  # an earlier attempt may have created it
            record = provider.record_find_by_source(
                client, item.helpdesk_object, intent.source_key, tag_field=item.record_tag_field
            )
        if not record_id and record is None:
            people = _people(item=item, provider=provider, ctx=ctx, issue_fields=issue_fields)
            _people_make(item=item, provider=provider, ctx=ctx, people=people)
            if people.notes:
                warnings.append(" ".join(people.notes))
            try:
                part = provider.people_part(
                    item.helpdesk_object, person_id=people.person_id, organization_id=people.organization_id
                )
            except ValueNotMapped as exc:
                raise RequiredFieldsMissing(
                    f"{exc}. Set a default requester for {item.name} on the Deskbridge admin page, or create the "
                    "record in the helpdesk and link it.",
                    extra={"fields": ["requester"]},
                ) from exc
            record = provider.record_create(
                client,
                item.helpdesk_object,
                {**body, **part},
                source_key=intent.source_key,
                tag_field=item.record_tag_field,
            )
        if not record_id:
            record_id = str((record or {}).get("id") or "")
            RecordCreate.objects.filter(pk=intent.pk).update(record_id=record_id)
    except ValueNotMapped as exc:  # e.g. the item's tag field is not one the helpdesk can carry it in
        _intent_release(intent, str(exc))
        raise RecordCreateUnavailable(f"The record cannot be written: {exc}.", extra={"item": item.pk}) from exc
    except ApiBadRequest as exc:
        _intent_release(intent, exc.message)
        raise HelpdeskRefused(
            f"{provider.brand} refused the new record: {exc.message}. Correct the values and try again.",
            extra={"fields": provider.refused_fields(exc)},
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
            origin=Link.Origin.AUTO if automatic else Link.Origin.MANUAL,
            actor=actor,
            issue=issue,  # read (and checked for the item) just now, with its status
            record=record,  # as the helpdesk answered its creation (None: made by an earlier attempt)
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
