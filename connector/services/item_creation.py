"""An item's settings for creating helpdesk records from Jira, checked when the item is saved: the requester
and organization rules and their defaults (which must exist in the helpdesk), the field carrying a created
record's Jira origin where the helpdesk has no external id, auto-create from Jira with its JQL (checked by
Jira), and the coverage of the helpdesk's required create fields by the item's mappings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from config.errors import ApplicationError
from tenants.models import Tenant

from .. import schema as schema_service
from ..clients.base import ApiError
from ..clients.jira import JiraClient
from ..creation import create_sources
from ..mapping import ValueNotMapped, helpdesk_value
from ..models import ConnectedItem, HelpdeskConnection
from ..providers import client_for

if TYPE_CHECKING:
    from .items import ItemSpec, Problems

Rule = ConnectedItem.RequesterRule
OrgRule = ConnectedItem.OrganizationRule
Missing = ConnectedItem.OrganizationMissing


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, str) else value


#: the settings and their values when an item creates no records (in the order problems are reported): the
#: model's own defaults (choices as their plain values)
CREATE_DEFAULTS: dict[str, Any] = {
    name: _plain(ConnectedItem._meta.get_field(name).get_default())
    for name in (
        "create_from_jira",
        "create_jql",
        "requester_field",
        "requester_rule",
        "default_requester_id",
        "organization_rule",
        "organization_field",
        "organization_missing",
        "default_organization_id",
        "record_tag_field",
        "create_values",
    )
}
REQUESTER_SETTINGS = ("requester_field", "requester_rule", "default_requester_id")
ORGANIZATION_SETTINGS = ("organization_rule", "organization_field", "organization_missing", "default_organization_id")
#: Jira field types whose value names an organization (a text, or an option's value)
ORGANIZATION_NAME_TYPES = frozenset({"text", "select", "organizations"})


def can_create_records(provider, *, mode: str, helpdesk_object: str) -> bool:
    """Whether records can be created from Jira through an item of this mode and object (a synchronized item
    of an object the helpdesk lets Deskbridge create)."""
    return mode != ConnectedItem.Mode.DISPLAY and helpdesk_object in provider.creatable_objects


def _clean(spec: ItemSpec) -> dict[str, Any]:
    values = {name: getattr(spec, name) for name in CREATE_DEFAULTS}
    for name, default in CREATE_DEFAULTS.items():
        if isinstance(default, str):
            values[name] = str(values[name] or "").strip()
    values["create_from_jira"] = bool(values["create_from_jira"])
    given = values["create_values"]
    # the given values without the empty ones (an empty value gives a new record nothing)
    values["create_values"] = (
        {str(k).strip(): v for k, v in given.items() if not _empty(v)} if isinstance(given, dict) else given
    )
    return values


def _empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or value == []


def _changed(values: dict[str, Any], names) -> list[str]:
    return [name for name in names if values[name] != CREATE_DEFAULTS[name]]


def check_creation(
    *,
    tenant: Tenant,
    connection: HelpdeskConnection,
    provider,
    spec: ItemSpec,
    hd_fields: dict[str, dict[str, Any]],
    mappings: list[dict[str, Any]],
    jira_types: dict[str, str] | None,
    p: Problems,
) -> dict[str, Any]:
    """The creation settings to store (with the names of the default requester and organization), after
    adding every problem with them to ``p``. ``mappings`` are the item's checked mappings, ``jira_types`` the
    types of the fields on its create screen (None when the project or issue type does not exist: their
    errors are reported already, and coverage is not checked)."""
    values = _clean(spec)
    values.update(default_requester_label="", default_organization_label="")
    objects = provider.object_label(spec.helpdesk_object).lower()
    if not can_create_records(provider, mode=spec.mode, helpdesk_object=spec.helpdesk_object):
        changed = _changed(values, CREATE_DEFAULTS)
        if changed:
            if spec.mode == ConnectedItem.Mode.DISPLAY:
                reason = f"Display-only items create no {provider.brand} records from Jira"
                what = "or choose a sync mode"
            else:
                reason = f"Deskbridge cannot create {provider.label} {objects} from Jira"
                what = "or choose an object Deskbridge can create"
            p.error("create_settings_unused", changed[0], f"{reason}; {_reset_words(changed)}, {what}.")
        return {**CREATE_DEFAULTS, "default_requester_label": "", "default_organization_label": ""}

    asker = _Asker(tenant, connection, p)
    people = provider.create_people(spec.helpdesk_object)
    jira_all: dict[str, dict[str, Any]] | None = None

    def jira_field(field_id: str) -> dict[str, Any] | None:
        nonlocal jira_all
        if jira_all is None:
            jira_all = {f["id"]: f for f in schema_service.jira_fields(tenant=tenant)}
        return jira_all.get(field_id)

    # --- the requester ---------------------------------------------------------------------------------
    if "requester" in people:
        if values["requester_rule"] not in Rule.values:
            p.error(
                "requester_rule_invalid",
                "requester_rule",
                f"Choose how the requester is found: {', '.join(Rule.values)}.",
            )
        # the reporter is always a user (no need to ask Jira); another field is looked up
        field_ = {"type": "user"} if values["requester_field"] == "reporter" else jira_field(values["requester_field"])
        if field_ is None or field_["type"] != "user":
            named = field_["label"] if field_ else repr(values["requester_field"])
            p.error(
                "requester_field_invalid",
                "requester_field",
                f"{named} is not a Jira user field; choose Reporter, Assignee or a user picker field whose person "
                f"requests the new {objects}.",
            )
        if values["requester_rule"] == Rule.MATCH_OR_DEFAULT and not values["default_requester_id"]:
            p.error(
                "default_requester_required",
                "default_requester_id",
                f"Give the {provider.brand} id of the person who requests new {objects} when no one has the Jira "
                "person's email, or create the person instead.",
            )
        if values["default_requester_id"]:
            found, person = asker.ask(
                "default_requester_id",
                f"the default requester {values['default_requester_id']}",
                lambda client: provider.person_get(client, values["default_requester_id"]),
            )
            if found and person is None:
                p.error(
                    "default_requester_not_found",
                    "default_requester_id",
                    f"The default requester {values['default_requester_id']} does not exist in {provider.brand}: "
                    "give the id of a person who exists there.",
                )
            elif person:
                values["default_requester_label"] = _person_label(person)
    else:
        _refuse_unused(p, provider, objects, values, REQUESTER_SETTINGS, "no requester")

    # --- the organization --------------------------------------------------------------------------------
    if "organization" in people:
        _check_organization(provider, objects, values, jira_field, asker, p)
    else:
        _refuse_unused(p, provider, objects, values, ORGANIZATION_SETTINGS, "no organization")

    # --- where a created record carries its Jira origin ---------------------------------------------------
    _check_record_tag(provider, spec, objects, values, hd_fields, mappings, p)

    # --- the values every new record starts with ----------------------------------------------------------
    if hd_fields:
        _check_create_values(provider, spec, objects, values, hd_fields, asker, p)

    # --- auto-create from Jira ---------------------------------------------------------------------------
    if values["create_jql"]:
        found, errors = asker.ask_jira(values["create_jql"])
        if found and errors:
            p.error(
                "create_jql_invalid",
                "create_jql",
                f"Jira refuses the JQL: {' '.join(errors)} Correct it, or leave it empty to create a record for "
                "every new issue.",
            )
        if not values["create_from_jira"]:
            p.warn(
                "create_jql_unused",
                "create_jql",
                "The JQL applies only when creating records from Jira is switched on.",
            )

    # --- required create fields --------------------------------------------------------------------------
    if jira_types is not None and hd_fields:
        _check_coverage(provider, spec, objects, values, hd_fields, mappings, jira_types, p)
    return values


def _person_label(person: dict[str, str]) -> str:
    """How admins know a person: ``Name <email>``, or the name alone."""
    name, email = person.get("name") or "", person.get("email") or ""
    return (f"{name} <{email}>" if email else name)[:255]


def _reset_words(changed: list[str]) -> str:
    """What to do with settings that mean nothing here: "switch create_from_jira off and leave X, Y at
    their defaults"."""
    words = ["switch create_from_jira off"] if "create_from_jira" in changed else []
    rest = [name for name in changed if name != "create_from_jira"]
    if rest:
        words.append(f"leave {', '.join(rest)} at {'its default' if len(rest) == 1 else 'their defaults'}")
    return " and ".join(words)


def _refuse_unused(p: Problems, provider, objects: str, values, names, what: str) -> None:
    changed = _changed(values, names)
    if changed:
        p.error(
            "create_settings_unused",
            changed[0],
            f"New {provider.brand} {objects} name {what}; {_reset_words(changed)}.",
        )


def _check_organization(provider, objects: str, values, jira_field, asker: _Asker, p: Problems) -> None:
    rule, missing = values["organization_rule"], values["organization_missing"]
    if rule not in OrgRule.values:
        p.error(
            "organization_rule_invalid",
            "organization_rule",
            f"Choose how the organization is found: {', '.join(OrgRule.values)}.",
        )
        return
    if rule == OrgRule.NONE:
        # nothing is matched: the other settings mean nothing and are not kept
        values.update(organization_field="", organization_missing=Missing.NONE.value, default_organization_id="")
        return
    if missing not in Missing.values:
        p.error(
            "organization_missing_invalid",
            "organization_missing",
            f"Choose what happens when no organization matches: {', '.join(Missing.values)}.",
        )
    if rule == OrgRule.NAME:
        if not values["organization_field"]:
            p.error(
                "organization_field_required",
                "organization_field",
                f"Choose the Jira field that holds the organization's name, or match {objects} to organizations "
                "by the requester's email domain.",
            )
        else:
            field_ = jira_field(values["organization_field"])
            if field_ is None or field_["type"] not in ORGANIZATION_NAME_TYPES:
                named = field_["label"] if field_ else repr(values["organization_field"])
                kind = f" ({field_['type']})" if field_ else ""
                p.error(
                    "organization_field_invalid",
                    "organization_field",
                    f"{named}{kind} cannot hold an organization's name; choose a Jira text field, a select list or "
                    "Jira Service Management's Organizations.",
                )
    else:
        values["organization_field"] = ""  # the domain comes from the requester's email
    if missing != Missing.DEFAULT:
        values["default_organization_id"] = ""  # used only when missing organizations take the default
        return
    if not values["default_organization_id"]:
        p.error(
            "default_organization_required",
            "default_organization_id",
            f"Give the {provider.brand} id of the organization new {objects} get when none matches, or choose "
            "another rule for a missing organization.",
        )
        return
    found, organization = asker.ask(
        "default_organization_id",
        f"the default organization {values['default_organization_id']}",
        lambda client: provider.organization_get(client, values["default_organization_id"]),
    )
    if found and organization is None:
        p.error(
            "default_organization_not_found",
            "default_organization_id",
            f"The default organization {values['default_organization_id']} does not exist in {provider.brand}: "
            "give the id of an organization that exists there.",
        )
    elif organization:
        values["default_organization_label"] = str(organization.get("name") or "")[:255]


def _check_record_tag(provider, spec: ItemSpec, objects: str, values, hd_fields, mappings, p: Problems) -> None:
    tag = values["record_tag_field"]
    if not provider.record_tag_required(spec.helpdesk_object):
        if tag:
            p.error(
                "record_tag_field_unused",
                "record_tag_field",
                f"{provider.brand} keeps the Jira origin of a created record itself (its external id); leave "
                "record_tag_field empty.",
            )
        return
    what_to_do = f"Create a single-line text field such as 'Jira issue' in {provider.label} and choose it here."
    if not tag:
        message = (
            f"{provider.label} {objects} have no external id: Deskbridge writes the Jira issue of each record it "
            f"creates into a text field of your own, so that a retry finds the record instead of making a second "
            f"one. {what_to_do}"
        )
        if values["create_from_jira"]:
            p.error("record_tag_field_required", "record_tag_field", message)
        else:
            p.warn("record_tag_field_required", "record_tag_field", message + " Until then no record can be created.")
        return
    field_ = hd_fields.get(tag)
    if field_ is None or field_["type"] != "text" or field_["system"]:
        named = field_["label"] if field_ else repr(tag)
        p.error(
            "record_tag_field_invalid",
            "record_tag_field",
            f"{named} is not a single-line text field of your own in {provider.object_label(spec.helpdesk_object)}. "
            f"{what_to_do}",
        )
        return
    if any(m["helpdesk_field"] == tag and m["direction"] == "to_helpdesk" for m in mappings):
        p.error(
            "record_tag_field_mapped",
            "record_tag_field",
            f"{field_['label']} is written from Jira by a mapping, which would overwrite the Jira issue a created "
            "record carries; remove that mapping or choose another field.",
        )


#: helpdesk field types a value for new records can be given in (besides references to a list the helpdesk
#: reads out: its ``condition_choice_keys``, such as Zoho's department or Zendesk's group)
FIXED_VALUE_TYPES = frozenset(
    {"text", "textarea", "dropdown", "priority", "multiselect", "tags", "number", "date", "datetime", "checkbox"}
)


def _people_fields(provider, helpdesk_object: str) -> set[str]:
    """The fields a new record's person and organization are written to (by the requester and organization
    rules, never by a fixed value)."""
    try:
        return set(provider.people_part(helpdesk_object, person_id="0", organization_id="0"))
    except ValueNotMapped:
        return set()


def create_value_refusal(provider, helpdesk_object: str, field_: dict[str, Any], tag_field: str) -> str:
    """Why a helpdesk field cannot be given a value for new records, in words ("" when it can)."""
    field_id, label = field_["id"], field_["label"]
    if field_id in _people_fields(provider, helpdesk_object):
        return f"{label} is chosen by the item's requester and organization rules (and their defaults)"
    if field_id in provider.create_readonly_fields(helpdesk_object) or field_id == "webUrl":
        return f"{provider.brand} sets {label} itself"
    if tag_field and field_id == tag_field:
        return f"{label} carries the Jira issue each created record comes from"
    if field_["type"] not in FIXED_VALUE_TYPES and field_id not in provider.condition_choice_keys:
        return f"{label} ({field_['type']}) cannot be given a fixed value; map it from Jira instead"
    return ""


def _option(field_: dict[str, Any], value: Any, options: list[dict[str, Any]] | None = None) -> str:
    """An option by its value, or by its label (any case); ValueNotMapped naming the options."""
    text = str(value).strip()
    options = field_.get("options") or [] if options is None else options
    if not options:
        return text
    for option in options:
        if str(option["value"]) == text:
            return str(option["value"])
    for option in options:
        if str(option.get("label") or "").casefold() == text.casefold():
            return str(option["value"])
    names = ", ".join(
        f"{o.get('label')} ({o['value']})" if o.get("label") not in (None, "", o["value"]) else str(o["value"])
        for o in options[:20]
    )
    raise ValueNotMapped(f"{text!r} is not a value of {field_['label']}; choose one of: {names}")


def fixed_value(field_: dict[str, Any], value: Any, choices: list[dict[str, Any]] | None = None) -> Any:
    """A value given to every new record, as the helpdesk takes it for the field's type (the form a mapped
    value has); ValueNotMapped saying why it cannot be. Options (and ``choices``, the values the helpdesk lists
    for a reference such as a department) are given by value or label; several values (multi-select, tags) as
    a list or a comma-separated text."""
    kind, label = field_["type"], field_["label"]
    if isinstance(value, dict):
        raise ValueNotMapped(f"{label} takes a single value, not an object")
    if kind in ("multiselect", "tags"):
        parts = value if isinstance(value, list) else str(value).split(",")
        parts = [str(part).strip() for part in parts if str(part).strip()]
        if kind == "tags":
            return helpdesk_value(rule="copy", value=parts, jira_type="labels", helpdesk_type="tags", value_map={})
        return list(dict.fromkeys(_option(field_, part) for part in parts))
    if isinstance(value, list):
        raise ValueNotMapped(f"{label} takes one value, not a list")
    if kind in ("number", "date"):
        return helpdesk_value(rule="copy", value=value, jira_type=kind, helpdesk_type=kind, value_map={})
    if kind == "datetime":
        text = str(value).strip()
        try:
            datetime.fromisoformat(text)
        except ValueError:
            raise ValueNotMapped(f"{text!r} is not a date and time such as 2026-11-22T09:30:00Z") from None
        return text
    if kind == "checkbox":
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            raise ValueNotMapped(f"{label} is a checkbox: give true or false")
        return text == "true"
    if choices is not None and not choices:
        raise ValueNotMapped(f"there are no {label} values to choose from")
    if kind in ("dropdown", "priority") or choices is not None:
        return _option(field_, value, choices)
    return str(value).strip()


def _check_create_values(provider, spec: ItemSpec, objects: str, values, hd_fields, asker: _Asker, p) -> None:
    """The values every new record starts with: fields a new record may take (``create_value_refusal``), each
    value one the field can hold — for a reference to a department or group, one the helpdesk lists."""
    given = values["create_values"]
    if not isinstance(given, dict):
        p.error(
            "create_values_invalid",
            "create_values",
            "Give the values of new records as an object of helpdesk field ids and values.",
        )
        values["create_values"] = {}
        return
    clean: dict[str, Any] = {}
    for field_id, raw in given.items():
        where = f"create_values.{field_id}"
        field_ = hd_fields.get(field_id)
        if field_ is None:
            p.error(
                "create_value_unknown",
                where,
                f"{provider.label} {objects} have no field {field_id!r}; choose one of their fields.",
            )
            continue
        reason = create_value_refusal(provider, spec.helpdesk_object, field_, values["record_tag_field"])
        if reason:
            p.error("create_value_not_writable", where, f"{reason}; remove its value for new records.")
            continue
        choices = None
        if field_id in provider.condition_choice_keys and field_["type"] not in ("tags", "multiselect"):
            _, choices = asker.ask(  # could not be asked: the problem says so (choices None)
                where,
                f"the {field_['label']} values",
                lambda client, key=field_id: schema_service.helpdesk_condition_choices(
                    tenant=asker.tenant, connection=asker.connection, key=key, client=client
                ),
            )
        try:
            clean[field_id] = fixed_value(field_, raw, choices)
        except ValueNotMapped as exc:
            more = " (one made just now shows after Refresh)" if choices is not None else ""
            p.error("create_value_invalid", where, f"{str(exc).rstrip('.')}{more}.")
    values["create_values"] = clean


def _check_coverage(provider, spec: ItemSpec, objects: str, values, hd_fields, mappings, jira_types, p) -> None:
    required = provider.create_required_fields(spec.helpdesk_object, list(hd_fields.values()))
    sources = create_sources(
        mappings,
        helpdesk_types={fid: f["type"] for fid, f in hd_fields.items()},
        jira_types=jira_types,
        readonly=provider.create_readonly_fields(spec.helpdesk_object),
    )
    covered = {s.helpdesk_field for s in sources} | set(values["create_values"])
    missing = [label for fid, label in required.items() if fid not in covered]
    if not missing:
        return
    message = (
        f"Missing {provider.brand} create-field coverage: {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} required to create {objects} and not mapped from Jira."
    )
    if values["create_from_jira"]:
        p.error(
            "missing_helpdesk_create_field_coverage",
            "mappings",
            message + " Map them, give them a value for new records, or switch creating records from Jira off.",
        )
    else:
        p.warn(
            "missing_helpdesk_create_field_coverage",
            "mappings",
            message + f" Users creating {objects} from the issue panel will have to fill them in.",
        )


class _Asker:
    """Calls made to check the settings; a call that fails is a problem saying so (nothing is saved)."""

    def __init__(self, tenant: Tenant, connection: HelpdeskConnection, p: Problems) -> None:
        self.tenant = tenant
        self.connection = connection
        self.p = p
        self._client = None

    def _run(self, field_: str, what: str, service: str, call: Callable[[], Any]) -> tuple[bool, Any]:
        try:
            return True, call()
        except ApplicationError as exc:  # a cached helpdesk list that could not be loaded: it says why
            self.p.error("create_check_failed", field_, exc.message)
            return False, None
        except ApiError as exc:
            self.p.error(
                "create_check_failed",
                field_,
                f"Could not check {what} with {service}: {exc.message.rstrip('.')}. Save again in a moment.",
            )
            return False, None

    def ask(self, field_: str, what: str, call: Callable[[Any], Any]) -> tuple[bool, Any]:
        """``call(client)`` on the helpdesk: (True, its answer), or (False, None) with the problem added."""

        def run():
            if self._client is None:
                self._client = client_for(self.connection)
            return call(self._client)

        return self._run(field_, what, self.connection.get_provider_display(), run)

    def ask_jira(self, jql: str) -> tuple[bool, list[str]]:
        return self._run("create_jql", "the JQL", "Jira", lambda: JiraClient(self.tenant).jql_parse(jql))
