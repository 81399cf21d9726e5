"""Smart Connected Items: create, update, delete, with every rule checked at save.

Validation collects every problem at once; each has a ``code``, the ``field`` it concerns and a message
the admin can act on. The API answers 400 with them in ``extra.errors``; the admin page shows them next
to the fields. Warnings (e.g. create-field coverage while auto-create is off) do not block a save.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants.models import Tenant

from .. import mapping as rules
from ..errors import ItemChanged, ItemInvalid
from ..models import ConnectedItem, FieldMapping, HelpdeskConnection
from ..providers import provider_for
from ..schema import helpdesk_fields, jira_create_fields, jira_issue_types, jira_priorities, jira_project
from .item_creation import CREATE_DEFAULTS, check_creation

TOGGLES = ("auto_create", "status_sync", "comment_sync", "attachment_sync")


@dataclass
class Problems:
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)

    def error(self, code: str, field_: str, message: str) -> None:
        self.errors.append({"code": code, "field": field_, "message": message})

    def warn(self, code: str, field_: str, message: str) -> None:
        self.warnings.append({"code": code, "field": field_, "message": message})

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        fields: dict[str, list[str]] = {}
        for e in self.errors:
            fields.setdefault(e["field"], []).append(e["message"])
        first = self.errors[0]["message"]
        more = (
            f" (and {len(self.errors) - 1} more problem{'s' if len(self.errors) > 2 else ''})"
            if len(self.errors) > 1
            else ""
        )
        raise ItemInvalid(
            f"{first}{more}",
            code=self.errors[0]["code"] if len(self.errors) == 1 else "item_invalid",
            extra={"errors": self.errors, "fields": fields, "warnings": self.warnings},
        )


@dataclass
class ItemSpec:
    """What an admin submits for an SCI (already parsed from the form or the API body)."""

    name: str
    mode: str
    jira_project: str
    helpdesk_object: str
    jira_issue_type_id: str = ""
    display_fields: list[str] = field(default_factory=list)
    mappings: list[dict[str, Any]] = field(default_factory=list)
    auto_create: bool = False
    status_sync: bool = False
    comment_sync: bool = False
    attachment_sync: bool = False
    link_note: bool | None = None  # None: the helpdesk's default (on for Zoho Desk, off for Zendesk)
    links_api_enabled: bool = True
    auto_create_conditions: dict[str, list[str]] = field(default_factory=dict)
    status_field: str = ""
    status_map: dict[str, str] = field(default_factory=dict)
    # creating helpdesk records from Jira (see item_creation.CREATE_DEFAULTS)
    create_from_jira: bool = False
    create_jql: str = ""
    requester_field: str = "reporter"
    requester_rule: str = ConnectedItem.RequesterRule.MATCH_OR_CREATE.value
    default_requester_id: str = ""
    organization_rule: str = ConnectedItem.OrganizationRule.NONE.value
    organization_field: str = ""
    organization_missing: str = ConnectedItem.OrganizationMissing.NONE.value
    default_organization_id: str = ""
    record_tag_field: str = ""
    create_values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_item(cls, item: ConnectedItem) -> ItemSpec:
        """What an existing item would be submitted as (for edits and partial updates)."""
        return cls(
            name=item.name,
            mode=item.mode,
            jira_project=item.jira_project_id,
            helpdesk_object=item.helpdesk_object,
            jira_issue_type_id=item.jira_issue_type_id,
            display_fields=list(item.display_fields),
            mappings=[
                {
                    "helpdesk_field": m.helpdesk_field,
                    "jira_field": m.jira_field,
                    "direction": m.direction,
                    "value_map": m.value_map,
                }
                for m in item.mappings.all()
            ],
            auto_create=item.auto_create,
            status_sync=item.status_sync,
            comment_sync=item.comment_sync,
            attachment_sync=item.attachment_sync,
            link_note=item.link_note,
            links_api_enabled=item.links_api_enabled,
            auto_create_conditions=dict(item.auto_create_conditions or {}),
            status_field=item.status_field,
            status_map=dict(item.status_map or {}),
            **{name: copy.copy(getattr(item, name)) for name in CREATE_DEFAULTS},
        )

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ItemSpec:
        """From parsed form or API values; keys that are not spec fields are ignored, missing ones default."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["mappings"] = [dict(m) for m in values.get("mappings") or []]
        values["auto_create_conditions"] = dict(values.get("auto_create_conditions") or {})
        values["status_map"] = dict(values.get("status_map") or {})
        return cls(**values)


@dataclass
class CheckedItem:
    spec: ItemSpec
    project: dict[str, str]
    issue_type_name: str
    mappings: list[dict[str, Any]]
    warnings: list[dict[str, str]]
    creation: dict[str, Any]  # the settings for creating records from Jira, as stored


def _check(*, tenant: Tenant, connection: HelpdeskConnection, spec: ItemSpec, exclude_pk: int | None) -> CheckedItem:
    p = Problems()
    provider = provider_for(connection.provider)
    spec.name = (spec.name or "").strip()
    if not spec.name or len(spec.name) > 100:
        p.error("name_invalid", "name", "Give the item a name of 1 to 100 characters.")
    elif ConnectedItem.objects.filter(tenant=tenant, name=spec.name).exclude(pk=exclude_pk).exists():
        p.error("name_taken", "name", f"Another item is already named {spec.name!r}; choose another name.")
    if spec.mode not in ConnectedItem.Mode.values:
        p.error("mode_invalid", "mode", "Choose display only, one-way sync or two-way sync.")
    if spec.helpdesk_object not in provider.objects:
        p.error(
            "object_invalid",
            "helpdesk_object",
            f"Choose one of: {', '.join(provider.objects.values())}.",
        )
    synchronized = spec.mode in (ConnectedItem.Mode.ONE_WAY, ConnectedItem.Mode.TWO_WAY)
    if (
        synchronized
        and spec.helpdesk_object in provider.objects
        and spec.helpdesk_object not in provider.syncable_objects
    ):
        p.error(
            "sync_requires_ticket",
            "mode",
            f"Only {', '.join(provider.object_label(o).lower() for o in sorted(provider.syncable_objects))} can be "
            f"synchronized on {provider.label}; {provider.object_label(spec.helpdesk_object).lower()} are "
            "display-only.",
        )
    if synchronized and not spec.jira_issue_type_id:
        p.error("issue_type_required", "jira_issue_type_id", "Synchronized items need a Jira issue type.")
    if not synchronized:
        for toggle in TOGGLES:
            if getattr(spec, toggle):
                p.error(
                    "display_only_options",
                    toggle,
                    "Display-only items do not sync; switch off auto-create, status, comment and attachment sync, "
                    "or choose a sync mode.",
                )
                break
        if spec.mappings:
            p.error(
                "display_only_options",
                "mappings",
                "Display-only items have no field mappings; pick display fields.",
            )
    unknown_conditions = set(spec.auto_create_conditions or {}) - set(provider.condition_keys)
    if unknown_conditions:
        p.error(
            "conditions_invalid",
            "auto_create_conditions",
            f"Unknown auto-create conditions: {', '.join(sorted(unknown_conditions))}. "
            f"Use {', '.join(provider.condition_keys)}.",
        )
    if spec.auto_create_conditions and not spec.auto_create:
        p.warn(
            "conditions_unused",
            "auto_create_conditions",
            "Auto-create conditions apply only when auto-create is on.",
        )

    # Jira side: project and issue type must exist.
    project = None
    issue_type_name = ""
    if not spec.jira_project:
        p.error("project_required", "jira_project", "Choose the Jira project.")
    else:
        project = jira_project(tenant=tenant, project=spec.jira_project)
        if project is None:
            p.error(
                "project_not_found",
                "jira_project",
                f"Jira project {spec.jira_project!r} does not exist or the app cannot see it.",
            )
    if project and spec.jira_issue_type_id:
        types = {t["id"]: t["name"] for t in jira_issue_types(tenant=tenant, project=project["id"])}
        if spec.jira_issue_type_id not in types:
            p.error(
                "issue_type_not_found",
                "jira_issue_type_id",
                f"Issue type {spec.jira_issue_type_id} is not available in project {project['key']}.",
            )
        else:
            issue_type_name = types[spec.jira_issue_type_id]

    # Helpdesk side: fields exist.
    hd_fields: dict[str, dict[str, Any]] = {}
    if spec.helpdesk_object in provider.objects:
        hd_fields = {
            f["id"]: f
            for f in helpdesk_fields(tenant=tenant, connection=connection, helpdesk_object=spec.helpdesk_object)
        }
        unknown = [f for f in spec.display_fields if f not in hd_fields]
        if unknown:
            p.error("unknown_field", "display_fields", f"Unknown {provider.label} fields: {', '.join(unknown)}.")
    status_field, status_map = _check_status(provider=provider, spec=spec, hd_fields=hd_fields, p=p)

    mappings = _check_mappings(
        tenant=tenant,
        provider=provider,
        spec=spec,
        project=project,
        issue_type_ok=bool(issue_type_name),
        hd_fields=hd_fields,
        p=p,
    )
    screen = (
        jira_create_fields(tenant=tenant, project=project["id"], issue_type_id=spec.jira_issue_type_id)
        if project and issue_type_name
        else None
    )
    creation = check_creation(
        tenant=tenant,
        connection=connection,
        provider=provider,
        spec=spec,
        hd_fields=hd_fields,
        mappings=mappings,
        jira_types={f["id"]: f["type"] for f in screen} if screen is not None else None,
        p=p,
    )
    p.raise_if_any()
    spec.status_field, spec.status_map = status_field, status_map
    return CheckedItem(spec, project, issue_type_name, mappings, p.warnings, creation)


def _check_status(*, provider, spec: ItemSpec, hd_fields, p: Problems) -> tuple[str, dict[str, str]]:
    """The status field and its value → Jira category table (helpdesks whose status field an item chooses:
    Zoho Desk). The table starts from the provider's defaults (by status type and name); the spec's entries
    override them and must name values of the field and categories Jira has."""
    if not provider.status_field_choice:
        if spec.status_field or spec.status_map:
            p.error(
                "status_field_fixed",
                "status_field",
                f"{provider.label} has one status field with a fixed status table; leave status_field and "
                "status_map empty.",
            )
        return "", {}
    if spec.helpdesk_object not in provider.objects or not hd_fields:
        return spec.status_field or "", dict(spec.status_map or {})
    if not spec.status_sync and not spec.status_field and not spec.status_map:
        return "", {}  # no status sync: nothing to check or store
    chosen = spec.status_field or provider.default_status_field(spec.helpdesk_object)
    field_ = hd_fields.get(chosen) if chosen else None
    if chosen and (field_ is None or field_["type"] != "dropdown"):
        p.error(
            "status_field_invalid",
            "status_field",
            f"{chosen!r} is not a pick-list field of {provider.object_label(spec.helpdesk_object)}; choose the "
            "field that holds the record's status.",
        )
        return spec.status_field or "", {}
    if field_ is None:
        if spec.status_sync:
            p.error(
                "status_field_required",
                "status_field",
                f"{provider.object_label(spec.helpdesk_object)} have no status field of their own; choose a "
                "pick-list field for status sync, or switch status sync off.",
            )
        return "", {}
    values = {o["value"] for o in field_["options"]}
    table = {**provider.status_map_default(list(hd_fields.values()), chosen)}
    for value, category in (spec.status_map or {}).items():
        if str(value) not in values:
            p.error("status_value_unknown", "status_map", f"{value!r} is not a value of {field_['label']}.")
        elif category not in ("new", "indeterminate", "done"):
            p.error(
                "status_category_invalid",
                "status_map",
                f"{value}: choose new (To Do), indeterminate (In Progress) or done (Done), not {category!r}.",
            )
        else:
            table[str(value)] = category
    return spec.status_field or "", table


def _check_mappings(*, tenant, provider, spec, project, issue_type_ok, hd_fields, p: Problems) -> list[dict[str, Any]]:
    if not spec.mappings and not (spec.auto_create and issue_type_ok):
        return []
    readonly = provider.readonly_fields(spec.helpdesk_object) if spec.helpdesk_object in provider.objects else set()
    jira_fields: dict[str, dict[str, Any]] = {}
    # Without a valid project and issue type the create screen is unknown: the scope errors already say
    # so, and every Jira field would otherwise be reported as "not on the create screen".
    jira_known = bool(project and issue_type_ok)
    if jira_known:
        jira_fields = {
            f["id"]: f
            for f in jira_create_fields(tenant=tenant, project=project["id"], issue_type_id=spec.jira_issue_type_id)
        }
    cleaned: list[dict[str, Any]] = []
    targets: dict[str, tuple[int, str]] = {}  # Jira field → (mapping index, direction)
    writes: dict[tuple[str, str], str] = {}
    for index, raw in enumerate(spec.mappings):
        where = f"mappings[{index}]"
        if not isinstance(raw, dict):
            p.error("mapping_invalid", where, "Each mapping needs helpdesk_field, jira_field and direction.")
            continue
        hd_id, jira_id = str(raw.get("helpdesk_field") or ""), str(raw.get("jira_field") or "")
        direction = raw.get("direction") or FieldMapping.Direction.TO_JIRA
        value_map = raw.get("value_map") or {}
        if direction not in FieldMapping.Direction.values:
            p.error("direction_invalid", where, "Direction must be to_jira or to_helpdesk.")
            continue
        if direction == FieldMapping.Direction.TO_HELPDESK and spec.mode != ConnectedItem.Mode.TWO_WAY:
            p.error(
                "direction_not_allowed",
                where,
                f"{jira_id or 'A field'} → helpdesk needs a two-way item; one-way items only write to Jira.",
            )
            continue
        hd = hd_fields.get(hd_id)
        jf = jira_fields.get(jira_id)
        if hd is None:
            p.error("unknown_field", where, f"Unknown helpdesk field {hd_id!r}.")
            continue
        if direction == FieldMapping.Direction.TO_HELPDESK and hd_id in readonly:
            p.error("field_not_writable", where, _not_writable_reason(provider, spec.helpdesk_object, hd))
            continue
        if jf is None:
            if jira_known:
                p.error(
                    "unknown_field",
                    where,
                    f"Jira field {jira_id!r} is not on the create screen of this project and issue type.",
                )
            continue
        if jira_id in targets:
            if targets[jira_id][1] != direction:
                # e.g. subject → summary and summary → subject: the pair would be written back and forth.
                p.error(
                    "conflicting_directions",
                    where,
                    f"Jira field {jf['label']} would be synchronized in both directions; keep one direction per field.",
                )
            else:
                p.error(
                    "duplicate_jira_target",
                    where,
                    f"Jira field {jf['label']} is already the target of another mapping; "
                    "one Jira field takes one source.",
                )
            continue
        targets[jira_id] = (index, direction)
        rule = rules.rule_for(direction, hd["type"], jf["type"])
        if rule is None:
            src, dst = (hd, jf) if direction == "to_jira" else (jf, hd)
            reason = rules.refusal_reason(direction, hd["type"], jf["type"], brand=provider.brand)
            p.error(
                "incompatible_mapping",
                where,
                f"{src['label']} ({src['type']}) cannot be written to {dst['label']} ({dst['type']})."
                + (f" {reason}" if reason else _why(src, dst)),
            )
            continue
        if rule in ("options", "priority"):
            value_map = _complete_value_map(
                tenant=tenant,
                direction=direction,
                rule=rule,
                hd=hd,
                jf=jf,
                value_map=value_map,
                where=where,
                p=p,
            )
        written = hd_id if direction == FieldMapping.Direction.TO_HELPDESK else jira_id
        side = "helpdesk" if direction == FieldMapping.Direction.TO_HELPDESK else "jira"
        writes[(side, written)] = direction
        cleaned.append(
            {
                "helpdesk_field": hd_id,
                "jira_field": jira_id,
                "direction": direction,
                "value_map": value_map,
                "position": index,
            }
        )
    # A field is never written in both directions: a helpdesk field written from Jira may not also feed Jira.
    for m in cleaned:
        if m["direction"] == "to_jira" and ("helpdesk", m["helpdesk_field"]) in writes:
            p.error(
                "conflicting_directions",
                f"mappings[{m['position']}]",
                f"Helpdesk field {hd_fields[m['helpdesk_field']]['label']} would be written in both directions; "
                "keep one direction per field.",
            )
    # Only helpdesk → Jira mappings give a new issue its values; a Jira → helpdesk source does not.
    written = {jira_id for jira_id, (_, d) in targets.items() if d == FieldMapping.Direction.TO_JIRA}
    _check_create_coverage(spec=spec, jira_fields=jira_fields, mapped=written, p=p)
    return cleaned


#: field types that hold several values
MULTI_VALUE_TYPES = frozenset({"multiselect", "tags", "labels"})


def _why(source: dict[str, Any], target: dict[str, Any]) -> str:
    """The reason a pair of types cannot be mapped, where there is one to tell (after the refusal's words)."""
    if source["type"] in MULTI_VALUE_TYPES and target["type"] not in MULTI_VALUE_TYPES:
        return (
            f" {source['label']} holds several values and {target['label']} holds one, so all but one would be "
            "lost; map it to a multi-select field, labels or tags."
        )
    return ""


def _not_writable_reason(provider, helpdesk_object: str, hd: dict[str, Any]) -> str:
    """Why Jira cannot write a read-only helpdesk field, in the provider's words (its update refusal)."""
    try:
        provider.update_payload(helpdesk_object, {hd["id"]: None})
    except rules.ValueNotMapped as exc:
        return str(exc)
    return f"{provider.label} cannot change {hd['label']} from Jira; map it to Jira only."


def _complete_value_map(*, tenant, direction, rule, hd, jf, value_map, where, p: Problems) -> dict[str, str]:
    source, target = (hd, jf) if direction == "to_jira" else (jf, hd)
    if jf["type"] == "priority" and not jf["options"] and (direction == "to_jira" or rule == "options"):
        # Jira's priorities by name (the field lists none)
        options = [{"value": pr["id"], "label": pr["name"]} for pr in jira_priorities(tenant=tenant)]
        jf = {**jf, "options": options}
        source, target = (hd, jf) if direction == "to_jira" else (jf, hd)
    target_values = {o["value"] for o in target["options"]}
    target_options = target["options"]
    suggested = rules.suggest_value_map(source["options"], target_options)
    if rule == "priority" and direction == "to_jira":
        suggested = {
            **suggested,
            **rules.priority_value_map([{"id": o["value"], "name": o["label"]} for o in target_options]),
        }
    if rule == "options" and direction == "to_helpdesk" and jf["type"] == "priority":  # by urgency, then name
        suggested = {**rules.nearest_priorities(source["options"], target_options), **suggested}
    if rule == "priority" and direction == "to_helpdesk":  # Jira's priorities onto Zendesk's four, by name
        normalised = {
            o["value"]: rules.JIRA_PRIORITY_TO_ZENDESK.get(" ".join(o["label"].lower().split()))
            for o in source["options"]
        }
        suggested = {**{k: v for k, v in normalised.items() if v in target_values}, **suggested}
    merged = {**suggested, **{str(k): str(v) for k, v in (value_map or {}).items()}}
    bad = {k: v for k, v in merged.items() if v not in target_values}
    if bad:
        p.error(
            "invalid_option",
            where,
            f"{', '.join(f'{k} → {v}' for k, v in bad.items())}: not allowed values of {target['label']}.",
        )
    missing = [o["label"] for o in source["options"] if o["value"] not in merged]
    if missing:
        p.error(
            "unmapped_options",
            where,
            f"Map every option of {source['label']} to a value of {target['label']}; unmapped: {', '.join(missing)}.",
        )
    return merged


def _check_create_coverage(*, spec: ItemSpec, jira_fields, mapped: set[str], p: Problems) -> None:
    if spec.mode == ConnectedItem.Mode.DISPLAY or not jira_fields:
        return
    implicit = {"project", "issuetype"}
    missing = [
        f["label"]
        for f in jira_fields.values()
        if f["required"] and not f["has_default"] and f["id"] not in implicit and f["id"] not in mapped
    ]
    if not missing:
        return
    message = (
        f"Missing safe create-field coverage: {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} required to create issues and not mapped."
    )
    if spec.auto_create:
        p.error("missing_create_field_coverage", "mappings", message + " Map them or switch auto-create off.")
    else:
        p.warn(
            "missing_create_field_coverage",
            "mappings",
            message + " Auto-create would fail until they are mapped.",
        )


def _conditions(spec: ItemSpec) -> dict[str, list[str]]:
    return {
        key: [str(v).strip() for v in values if str(v).strip()]
        for key, values in (spec.auto_create_conditions or {}).items()
        if values
    }


def connected_item_check(
    *, tenant: Tenant, connection: HelpdeskConnection, spec: ItemSpec, item: ConnectedItem | None = None
) -> CheckedItem:
    """Every rule ``connected_item_save`` applies, without saving: the checked item (what would be stored,
    and the warnings), or ItemInvalid with every problem."""
    if connection.tenant_id != tenant.pk or (item is not None and item.tenant_id != tenant.pk):
        raise ValueError("connection or item belongs to another tenant")
    return _check(tenant=tenant, connection=connection, spec=spec, exclude_pk=item.pk if item else None)


def connected_item_save(
    *,
    tenant: Tenant,
    connection: HelpdeskConnection,
    spec: ItemSpec,
    item: ConnectedItem | None = None,
    expected_version=None,
) -> tuple[ConnectedItem, list[dict[str, str]]]:
    """Create (``item`` None) or update an SCI. Returns the item and warnings; raises ItemInvalid.

    ``expected_version``: the ``updated_at`` of the item the spec was merged onto (a partial update). The
    write happens under the item's row lock and only if the item is still that version; otherwise
    ``ItemChanged`` is raised and the caller merges again — a concurrent edit is never silently dropped.
    Validation (which may ask Jira for its schema) runs before the lock, never inside it."""
    checked = connected_item_check(tenant=tenant, connection=connection, spec=spec, item=item)
    now = timezone.now()
    values = {
        "connection": connection,
        "name": spec.name,
        "mode": spec.mode,
        "jira_project_id": checked.project["id"],
        "jira_project_key": checked.project["key"],
        "jira_issue_type_id": spec.jira_issue_type_id or "",
        "jira_issue_type_name": checked.issue_type_name,
        "helpdesk_object": spec.helpdesk_object,
        "display_fields": list(spec.display_fields),
        "auto_create": spec.auto_create,
        "status_sync": spec.status_sync,
        "comment_sync": spec.comment_sync,
        "attachment_sync": spec.attachment_sync,
        "link_note": provider_for(connection.provider).link_note_default if spec.link_note is None else spec.link_note,
        "links_api_enabled": spec.links_api_enabled,
        "status_field": checked.spec.status_field or "",
        "status_map": dict(checked.spec.status_map or {}),
        "auto_create_conditions": _conditions(spec),
        **checked.creation,
    }
    creating = checked.creation["create_from_jira"]
    with transaction.atomic():
        if item is None:
            item = ConnectedItem(tenant=tenant, **values)
            item.auto_create_baseline = now if spec.auto_create else None
            item.create_from_jira_baseline = now if creating else None
        else:
            item = ConnectedItem.objects.select_for_update().get(pk=item.pk, tenant=tenant)
            if expected_version is not None and item.updated_at != expected_version:
                raise ItemChanged(
                    f"{item.name} was changed by someone else while this change was being saved. Load it "
                    "again and repeat the change.",
                )
            switched_on = spec.auto_create and not item.auto_create
            creating_switched_on = creating and not item.create_from_jira
            for key, value in values.items():
                setattr(item, key, value)
            if switched_on:
                item.auto_create_baseline = now  # only records created after this are auto-created
            elif not spec.auto_create:
                item.auto_create_baseline = None
            if creating_switched_on:
                item.create_from_jira_baseline = now  # only issues created after this create records
            elif not creating:
                item.create_from_jira_baseline = None
        try:
            item.save()
        except IntegrityError:
            raise ItemInvalid(
                f"Another item is already named {spec.name!r}; choose another name.", code="name_taken"
            ) from None
        item.mappings.all().delete()
        FieldMapping.objects.bulk_create(FieldMapping(item=item, **m) for m in checked.mappings)
    return item, checked.warnings


def connected_item_delete(*, tenant: Tenant, item: ConnectedItem) -> None:
    if item.tenant_id != tenant.pk:
        raise ValueError("item belongs to another tenant")
    item.delete()
