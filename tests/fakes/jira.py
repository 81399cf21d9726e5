"""A stateful fake Jira Cloud site, served on loopback.

It plays both sides of Atlassian Connect:
- as the product our app calls: verifies our outbound JWT on every request (HS256 with the site's
  shared secret, ``iss`` = our app key, ``exp``, ``qsh`` of the request exactly as received) and answers
  like Jira Cloud REST v3 (``shared/docs/api-facts.md``): error bodies ``{"errorMessages", "errors"}``,
  204 on edits, 429 with ``Retry-After``;
- as the schema it describes: projects (``/project/search`` paged), createmeta issue types and create
  screens (paged, ``issueTypes`` / ``fields`` with ``total`` and no ``isLast``), ``/field``,
  ``/priority`` and project statuses, with a small ``page_size`` so callers must follow pages;
- as the product that calls our app: builds the install payload, signs the RS256 install JWT with its own
  key pair (served by ``FakeInstallKeys`` by ``kid``), and signs iframe (qsh-bound) and context tokens.
"""

from __future__ import annotations

import copy
import email.parser
import email.policy
import itertools
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import jwt as pyjwt
from atlassian_jwt.url_utils import hash_url
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .server import FakeRequest, FakeServer, route

_SITE_KEY: rsa.RSAPrivateKey | None = None

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jira"
# Stored payloads use Atlassian's documentation host; answers rebase it onto the fake's own URL.
DOC_BASE = "https://your-domain.atlassian.net"

DEFAULT_ISSUE_TYPES: list[dict[str, Any]] = [
    {"id": "10001", "name": "Task", "description": "A small, distinct piece of work.", "avatarId": 10318},
    {"id": "10002", "name": "Bug", "description": "A problem or error.", "avatarId": 10303},
    {"id": "10003", "name": "Story", "description": "A user story.", "avatarId": 10315},
    {
        "id": "10004",
        "name": "Sub-task",
        "description": "A small piece of a larger task.",
        "avatarId": 10316,
        "subtask": True,
    },
]
# (id, name, statusCategory key); every issue type of a new project uses this workflow.
DEFAULT_STATUSES: list[tuple[str, str, str]] = [
    ("10000", "To Do", "new"),
    ("3", "In Progress", "indeterminate"),
    ("10001", "Done", "done"),
]
_STATUS_CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


def _site_key() -> rsa.RSAPrivateKey:
    """One RSA key per test process (generation is slow); each fake site still has its own kid."""
    global _SITE_KEY
    if _SITE_KEY is None:
        _SITE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _SITE_KEY


def _error(status: int, *messages: str, errors: dict[str, str] | None = None):
    return status, {"errorMessages": list(messages), "errors": errors or {}}


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def field_meta(
    field_id: str,
    name: str,
    schema: dict[str, Any],
    *,
    required: bool = False,
    allowed_values: list[dict[str, Any]] | None = None,
    default_value: Any = None,
    operations: list[str] | None = None,
) -> dict[str, Any]:
    """One field of a createmeta page, shaped as Jira Cloud answers it (``fieldId`` and ``key`` both)."""
    meta: dict[str, Any] = {
        "required": required,
        "schema": schema,
        "name": name,
        "key": field_id,
        "fieldId": field_id,
        "hasDefaultValue": default_value is not None,
        "operations": list(operations if operations is not None else ["set"]),
    }
    if allowed_values is not None:
        meta["allowedValues"] = allowed_values
    if default_value is not None:
        meta["defaultValue"] = default_value
    return meta


class FakeInstallKeys(FakeServer):
    """Atlassian's install-keys service: ``GET /{kid}`` → PEM public key (404 for an unknown kid)."""

    name = "fake-install-keys"

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[str, str] = {}
        self.down = False

    def add_key(self, kid: str, public_pem: str) -> None:
        self.keys[kid] = public_pem

    @route("GET", r"/(?P<kid>[^/]+)")
    def get_key(self, request: FakeRequest):
        if self.down:
            return 503, "Service Unavailable"
        pem = self.keys.get(request.params["kid"])
        if pem is None:
            return 404, "Not Found"
        return 200, pem, {"Content-Type": "application/x-pem-file"}


class FakeJira(FakeServer):
    name = "fake-jira"

    def __init__(self, *, app_key: str, install_keys: FakeInstallKeys | None = None) -> None:
        super().__init__()
        self.app_key = app_key
        self.client_key = f"jira:{uuid.uuid4()}"
        self.shared_secret = secrets.token_urlsafe(32)
        self.cloud_id = str(uuid.uuid4())
        self.install_keys = install_keys
        self._private_key = _site_key()
        self.kid = f"kid-{uuid.uuid4().hex[:12]}"
        if install_keys is not None:
            install_keys.add_key(self.kid, self.public_pem)
        self.app_account_id = "557058:deskbridge-app-user"
        self.admins: set[str] = set()
        # issue id → accountIds that may browse it (issues not listed are visible to everyone)
        self.issue_viewers: dict[str, set[str]] = {}
        self.license: dict[str, Any] | None = {"active": True, "type": "commercial", "evaluation": False}
        self.issues: dict[str, dict[str, Any]] = {}
        self.properties: dict[tuple[str, str], Any] = {}
        self.attachments: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(10000)
        self.rejected_auth: list[str] = []
        # schema: pages hold at most ``page_size`` items whatever maxResults asks (Jira caps it too)
        self.page_size = 3
        self.projects: dict[str, dict[str, Any]] = {}  # key → project
        self.issue_types: dict[str, list[dict[str, Any]]] = {}  # project key → its issue types
        self.statuses: dict[str, list[dict[str, Any]]] = {}  # project key → its workflow's statuses
        self.edits: list[dict[str, Any]] = []  # every accepted issue edit
        self.transitions_done: list[dict[str, Any]] = []
        self.read_only: set[str] = {"status", "created", "updated", "creator", "reporter_email"}
        self.blocked_statuses: set[str] = set()  # statuses no transition leads to
        self.create_screens: dict[tuple[str, str], list[dict[str, Any]]] = {}  # set_create_fields()
        self.fields: list[dict[str, Any]] = _fixture("fields.json")  # GET /field
        self.priorities: list[dict[str, Any]] = _fixture("priorities.json")  # GET /priority
        self.default_create_screen: list[dict[str, Any]] = _fixture("create_fields.json")
        self._project_ids = itertools.count(10000)

    # --- Jira's signing side --------------------------------------------------------------------------
    @property
    def public_pem(self) -> str:
        return (
            self._private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @property
    def private_pem(self) -> bytes:
        return self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def install_payload(self, **overrides: Any) -> dict[str, Any]:
        payload = {
            "key": self.app_key,
            "clientKey": self.client_key,
            "sharedSecret": self.shared_secret,
            "baseUrl": self.url,
            "displayUrl": self.url,
            "productType": "jira",
            "description": "Fake Jira Cloud site",
            "eventType": "installed",
            "serverVersion": "100275",
            "pluginsVersion": "1001.0.0-SNAPSHOT",
            "oauthClientId": "fake-oauth-client",
            "cloudId": self.cloud_id,
        }
        payload.update(overrides)
        return payload

    def sign_install(
        self, method: str, relative_url: str, *, aud: str, iss: str | None = None, exp_in: int = 180, **extra
    ) -> str:
        """RS256 install/uninstall token as Jira signs it (kid header, aud = app base URL)."""
        now = int(time.time())
        claims = {
            "iss": iss or self.client_key,
            "aud": aud,
            "iat": now,
            "exp": now + exp_in,
            "qsh": hash_url(method, relative_url),
            **extra,
        }
        return pyjwt.encode(claims, self.private_pem, algorithm="RS256", headers={"kid": self.kid})

    def sign(
        self,
        method: str,
        relative_url: str,
        *,
        account_id: str | None = "5b10ac8d82e05b22cc7d4ef5",
        secret: str | None = None,
        exp_in: int = 180,
        qsh: str | None = None,
        iss: str | None = None,
    ) -> str:
        """HS256 token with a qsh bound to ``method`` + ``relative_url`` (iframe loads, callbacks)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": iss or self.client_key,
            "iat": now,
            "exp": now + exp_in,
            "qsh": qsh if qsh is not None else hash_url(method, relative_url),
        }
        if account_id:
            claims["sub"] = account_id
        return pyjwt.encode(claims, secret or self.shared_secret, algorithm="HS256")

    def context_token(self, *, account_id: str = "5b10ac8d82e05b22cc7d4ef5", exp_in: int = 900) -> str:
        """What ``AP.context.getToken()`` returns in the iframe: qsh = "context-qsh"."""
        return self.sign("GET", "/", account_id=account_id, exp_in=exp_in, qsh="context-qsh")

    # --- the product side: verify our outbound JWT on every call --------------------------------------
    def before(self, request: FakeRequest):
        header = request.headers.get("authorization", "")
        if not header.startswith("JWT "):
            self.rejected_auth.append("missing")
            return _error(401, "Client must be authenticated to access this resource.")
        token = header[4:]
        try:
            claims = pyjwt.decode(
                token, self.shared_secret, algorithms=["HS256"], options={"require": ["exp", "iss", "qsh"]}
            )
        except pyjwt.PyJWTError as exc:
            self.rejected_auth.append(type(exc).__name__)
            return _error(401, f"JWT rejected: {type(exc).__name__}")
        if claims.get("iss") != self.app_key:
            self.rejected_auth.append("iss")
            return _error(401, "JWT issuer is not an installed app.")
        if claims.get("qsh") != hash_url(request.method, request.raw_path):
            self.rejected_auth.append("qsh")
            return _error(401, "JWT qsh does not match the request.")
        is_upload = request.method in ("POST", "PUT") and request.path.endswith("/attachments")
        if is_upload and request.headers.get("x-atlassian-token") != "no-check":
            return _error(403, "XSRF check failed")
        return None

    # --- REST endpoints -------------------------------------------------------------------------------
    @route("GET", r"/rest/api/3/myself")
    def myself(self, request: FakeRequest):
        return 200, {
            "accountId": self.app_account_id,
            "accountType": "app",
            "displayName": "Deskbridge",
            "active": True,
        }

    @route("GET", r"/rest/api/3/serverInfo")
    def server_info(self, request: FakeRequest):
        return 200, {"baseUrl": self.url, "deploymentType": "Cloud", "serverTitle": "Jira"}

    @route("GET", r"/rest/atlassian-connect/1/addons/(?P<key>[^/]+)")
    def addon(self, request: FakeRequest):
        if request.params["key"] != self.app_key:
            return _error(404, "App not found")
        body: dict[str, Any] = {"key": self.app_key, "status": "installed", "version": "1.0.0"}
        if self.license is not None:
            body["license"] = self.license
        return 200, body

    @route("POST", r"/rest/api/3/permissions/check")
    def permissions_check(self, request: FakeRequest):
        body = request.json() or {}
        account = body.get("accountId")
        wanted = body.get("globalPermissions") or []
        granted = [p for p in wanted if p == "ADMINISTER" and account in self.admins]
        project_granted = []
        for ask in body.get("projectPermissions") or []:
            if "BROWSE_PROJECTS" not in (ask.get("permissions") or []):
                continue
            visible = [
                i
                for i in ask.get("issues") or []
                if str(i) in self.issues and (str(i) not in self.issue_viewers or account in self.issue_viewers[str(i)])
            ]
            # Jira omits a permission nobody asked about and lists only the issues the user may see.
            if visible:
                project_granted.append({"permission": "BROWSE_PROJECTS", "issues": visible, "projects": []})
        return 200, {"globalPermissions": granted, "projectPermissions": project_granted}

    def add_issue(
        self,
        *,
        key: str,
        project: str | None = None,
        summary: str = "An issue",
        issue_type_id: str = "10001",
        **fields: Any,
    ) -> dict[str, Any]:
        """An issue as ``GET /issue/{id}`` returns it; project and issue type are full objects when the
        project was added with ``add_project`` (as on a real site), a bare key otherwise."""
        issue_id = str(next(self._ids))
        project_key = project or key.split("-")[0]
        known = self.projects.get(project_key)
        project_ref = {"id": known["id"], "key": project_key, "name": known["name"]} if known else {"key": project_key}
        issue_type = next(
            (t for t in self.issue_types.get(project_key, []) if t["id"] == str(issue_type_id)),
            {"id": str(issue_type_id), "name": "Task"},
        )
        workflow = self.statuses.get(project_key) or []
        issue = {
            "id": issue_id,
            "key": key,
            "self": f"{self.url}/rest/api/3/issue/{issue_id}",
            "fields": {
                "summary": summary,
                "project": project_ref,
                "issuetype": {"id": issue_type["id"], "name": issue_type["name"]},
                **({"status": self._status_ref(workflow[0])} if workflow else {}),
                **fields,
            },
        }
        self.issues[issue_id] = issue
        return issue

    def _find_issue(self, ref: str) -> dict[str, Any] | None:
        return self.issues.get(ref) or next((i for i in self.issues.values() if i["key"] == ref), None)

    @route("GET", r"/rest/api/3/issue/(?P<issue>[^/]+)")
    def issue_get(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        wanted = request.arg("fields")
        if wanted:  # like Jira: only the fields asked for (unknown names are ignored)
            names = {f.strip() for f in wanted.split(",")}
            issue = {**issue, "fields": {k: v for k, v in issue["fields"].items() if k in names}}
        return 200, issue

    @staticmethod
    def _status_ref(status: dict[str, Any]) -> dict[str, Any]:
        return {"id": status["id"], "name": status["name"], "statusCategory": status["statusCategory"]}

    # Fields Jira refuses on edit, and the error it gives (field id → message); ``status`` is never editable.
    NOT_EDITABLE = "Field '{field}' cannot be set. It is not on the appropriate screen, or unknown."

    @route("PUT", r"/rest/api/3/issue/(?P<issue>[^/]+)")
    def issue_edit(self, request: FakeRequest):
        """Edit: 204 with no body; fields that are unknown or not editable make the whole edit a 400 with
        one message per field (nothing is changed), as Jira does."""
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        changes = (request.json() or {}).get("fields", {})
        known = {f["id"] for f in self.fields}
        refused = {f: self.NOT_EDITABLE.format(field=f) for f in changes if f not in known or f in self.read_only}
        if refused:
            return _error(400, errors=refused)
        issue["fields"].update(changes)
        self.edits.append({"issue": issue["id"], "fields": changes})
        return 204, b""

    def _transitions(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        """Every status of the project's workflow but the current one (a workflow with global
        transitions), minus those removed with ``block_transition``."""
        key = issue["fields"]["project"]["key"]
        current = (issue["fields"].get("status") or {}).get("id")
        return [
            {"id": f"t{s['id']}", "name": f"Move to {s['name']}", "to": self._status_ref(s), "isAvailable": True}
            for s in self.statuses.get(key, [])
            if s["id"] != current and s["id"] not in self.blocked_statuses
        ]

    @route("GET", r"/rest/api/3/issue/(?P<issue>[^/]+)/transitions")
    def transitions_get(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        return 200, {"expand": "transitions", "transitions": self._transitions(issue)}

    @route("POST", r"/rest/api/3/issue/(?P<issue>[^/]+)/transitions")
    def transitions_post(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        wanted = str(((request.json() or {}).get("transition") or {}).get("id", ""))
        transition = next((t for t in self._transitions(issue) if t["id"] == wanted), None)
        if transition is None:
            return _error(400, f"Transition id '{wanted}' is not valid for this issue.")
        issue["fields"]["status"] = transition["to"]
        self.transitions_done.append({"issue": issue["id"], "to": transition["to"]["name"]})
        return 204, b""

    @route("PUT", r"/rest/api/3/issue/(?P<issue>[^/]+)/properties/(?P<key>[^/]+)")
    def property_set(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        created = (issue["id"], request.params["key"]) not in self.properties
        self.properties[(issue["id"], request.params["key"])] = request.json()
        return (201 if created else 200), b""

    @route("GET", r"/rest/api/3/issue/(?P<issue>[^/]+)/properties/(?P<key>[^/]+)")
    def property_get(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        value = issue and self.properties.get((issue["id"], request.params["key"]))
        if value is None:
            return _error(404, "The property was not found.")
        return 200, {"key": request.params["key"], "value": value}

    # --- schema: projects, issue types, create screens, fields, priorities, statuses -----------------
    def rebase(self, payload: Any) -> Any:
        """A copy of ``payload`` with the documentation host replaced by this site's URL."""
        return json.loads(json.dumps(payload).replace(DOC_BASE, self.url))

    def add_project(self, key: str, name: str, *, issue_types: list[dict[str, Any]] | None = None) -> dict:
        """A company-managed software project with the default issue types and workflow statuses. Issue
        types need ``id`` and ``name``; ``subtask`` defaults to False. Returns ``GET /project/{key}``."""
        project_id = str(next(self._project_ids))
        self.projects[key] = {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "self": f"{DOC_BASE}/rest/api/3/project/{project_id}",
            "id": project_id,
            "key": key,
            "name": name,
            "avatarUrls": {
                size: f"{DOC_BASE}/rest/api/3/universal_avatar/view/type/project/avatar/10400?size={label}"
                for size, label in (
                    ("48x48", "large"),
                    ("24x24", "small"),
                    ("16x16", "xsmall"),
                    ("32x32", "medium"),
                )
            },
            "projectTypeKey": "software",
            "simplified": False,
            "style": "classic",
            "isPrivate": False,
            "properties": {},
        }
        self.issue_types[key] = [self._issue_type(t) for t in (issue_types or DEFAULT_ISSUE_TYPES)]
        self.set_statuses(key, DEFAULT_STATUSES)
        return self.rebase(self._project_full(key))

    def set_statuses(self, project_key: str, statuses: list[tuple[str, str, str]]) -> None:
        """The project's workflow statuses as ``(id, name, statusCategory key)``."""
        self.statuses[project_key] = [
            {
                "self": f"{DOC_BASE}/rest/api/3/status/{status_id}",
                "description": "",
                "iconUrl": f"{DOC_BASE}/images/icons/statuses/generic.png",
                "name": name,
                "untranslatedName": name,
                "id": status_id,
                "statusCategory": {
                    "self": f"{DOC_BASE}/rest/api/3/statuscategory/{_STATUS_CATEGORIES[category]['id']}",
                    **_STATUS_CATEGORIES[category],
                },
            }
            for status_id, name, category in statuses
        ]

    def set_create_fields(self, project_key: str, issue_type_id: str, fields: list[dict[str, Any]]) -> None:
        """Replace one create screen. Each field is a createmeta field (see ``field_meta``); missing
        ``key``/``fieldId``, ``name``, ``required``, ``hasDefaultValue`` and ``operations`` are filled in."""
        assert any(t["id"] == str(issue_type_id) for t in self.issue_types[project_key]), "unknown issue type"
        screen = []
        for field in fields:
            field_id = field.get("fieldId") or field["key"]
            screen.append(
                {
                    "required": False,
                    "name": field_id,
                    "hasDefaultValue": "defaultValue" in field,
                    "operations": ["set"],
                    **copy.deepcopy(field),
                    "key": field_id,
                    "fieldId": field_id,
                }
            )
        self.create_screens[(project_key, str(issue_type_id))] = screen

    def add_field(
        self,
        field_id: str,
        name: str,
        schema: dict[str, Any],
        *,
        required: bool = False,
        allowed_values: list[dict[str, Any]] | None = None,
        default_value: Any = None,
        on_create_screen: bool = True,
    ) -> dict[str, Any]:
        """A field in ``GET /field`` (replacing one with the same id) and, unless told otherwise, on every
        default create screen. A custom field's ``schema`` gets its ``customId``. Returns the field."""
        custom = field_id.startswith("customfield_")
        schema = dict(schema)
        if custom:
            schema.setdefault("customId", int(field_id.removeprefix("customfield_")))
        field = {
            "id": field_id,
            "key": field_id,
            "name": name,
            "untranslatedName": name,
            "custom": custom,
            "orderable": True,
            "navigable": True,
            "searchable": True,
            "clauseNames": [f"cf[{schema['customId']}]", name] if custom else [field_id],
            "schema": schema,
        }
        self.fields = [f for f in self.fields if f["id"] != field_id] + [field]
        if on_create_screen:
            meta = field_meta(
                field_id,
                name,
                schema,
                required=required,
                allowed_values=allowed_values,
                default_value=default_value,
            )
            self.default_create_screen = [m for m in self.default_create_screen if m["fieldId"] != field_id]
            self.default_create_screen.append(meta)
        return copy.deepcopy(field)

    def create_fields_for(self, project_key: str, issue_type_id: str) -> list[dict[str, Any]]:
        """The create screen of one project and issue type: the one set, else the default screen with
        that project, issue type, the priorities and (for sub-tasks) a required ``parent`` filled in."""
        explicit = self.create_screens.get((project_key, str(issue_type_id)))
        if explicit is not None:
            return copy.deepcopy(explicit)
        project = self.projects[project_key]
        issue_type = next(t for t in self.issue_types[project_key] if t["id"] == str(issue_type_id))
        screen: list[dict[str, Any]] = []
        for meta in copy.deepcopy(self.default_create_screen):
            field_id = meta["fieldId"]
            if field_id == "issuetype":
                meta["allowedValues"] = [{k: v for k, v in issue_type.items() if k != "untranslatedName"}]
            elif field_id == "project":
                keys = ("self", "id", "key", "name", "projectTypeKey", "simplified", "avatarUrls")
                meta["allowedValues"] = [{k: project[k] for k in keys}]
            elif field_id == "priority":
                meta["allowedValues"] = [{k: p[k] for k in ("self", "iconUrl", "name", "id")} for p in self.priorities]
                default = next((p for p in self.priorities if p.get("isDefault")), None)
                meta["hasDefaultValue"] = default is not None
                if default is not None:
                    meta["defaultValue"] = {k: default[k] for k in ("self", "iconUrl", "name", "id")}
            elif field_id == "assignee":
                meta["autoCompleteUrl"] = f"{DOC_BASE}/rest/api/3/user/assignable/search?project={project_key}&query="
            screen.append(meta)
            if field_id == "project" and issue_type["subtask"]:
                screen.append(field_meta("parent", "Parent", {"type": "issuelink", "system": "parent"}, required=True))
        return screen

    def _issue_type(self, spec: dict[str, Any]) -> dict[str, Any]:
        subtask = bool(spec.get("subtask", False))
        avatar_id = spec.get("avatarId", 10318)
        return {
            "self": f"{DOC_BASE}/rest/api/3/issuetype/{spec['id']}",
            "id": str(spec["id"]),
            "description": spec.get("description", ""),
            "iconUrl": f"{DOC_BASE}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{avatar_id}",
            "name": spec["name"],
            "untranslatedName": spec["name"],
            "subtask": subtask,
            "avatarId": avatar_id,
            "hierarchyLevel": -1 if subtask else 0,
        }

    def _project_full(self, key: str) -> dict[str, Any]:
        return {
            **self.projects[key],
            "description": "",
            "lead": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Project Lead", "active": True},
            "components": [],
            "issueTypes": self.issue_types[key],
            "assigneeType": "UNASSIGNED",
            "versions": [],
            "roles": {},
        }

    def _find_project(self, ref: str) -> str | None:
        """The key of the project ``ref`` names by id or (case-insensitively) by key."""
        return next((k for k, p in self.projects.items() if ref in (p["id"], k) or ref.upper() == k), None)

    def _page(self, request: FakeRequest, items: list[Any]) -> dict[str, Any] | None:
        try:
            start = int(request.arg("startAt") or 0)
            asked = int(request.arg("maxResults") or self.page_size)
        except ValueError:
            return None
        size = max(0, min(asked, self.page_size))
        start = max(0, start)
        return {
            "startAt": start,
            "maxResults": size,
            "total": len(items),
            "items": items[start : start + size],
        }

    @staticmethod
    def _no_project(ref: str):
        return _error(404, f"No project could be found with key '{ref}'.")

    @route("GET", r"/rest/api/3/project/search")
    def project_search(self, request: FakeRequest):
        ordered = [self.projects[k] for k in sorted(self.projects)]
        page = self._page(request, ordered)
        if page is None:
            return _error(400, "startAt and maxResults must be integers.")
        is_last = page["startAt"] + len(page["items"]) >= page["total"]
        body: dict[str, Any] = {"self": f"{self.url}{request.raw_path}"}
        if not is_last:
            following = page["startAt"] + len(page["items"])
            body["nextPage"] = (
                f"{self.url}/rest/api/3/project/search?startAt={following}&maxResults={page['maxResults']}"
            )
        body.update(
            maxResults=page["maxResults"],
            startAt=page["startAt"],
            total=page["total"],
            isLast=is_last,
            values=page["items"],
        )
        return 200, self.rebase(body)

    @route("GET", r"/rest/api/3/project/(?P<project>(?!search$)[^/]+)")
    def project_get(self, request: FakeRequest):
        key = self._find_project(request.params["project"])
        if key is None:
            return self._no_project(request.params["project"])
        return 200, self.rebase(self._project_full(key))

    @route("GET", r"/rest/api/3/project/(?P<project>[^/]+)/statuses")
    def project_statuses(self, request: FakeRequest):
        key = self._find_project(request.params["project"])
        if key is None:
            return self._no_project(request.params["project"])
        body = [
            {
                "self": t["self"],
                "id": t["id"],
                "name": t["name"],
                "subtask": t["subtask"],
                "statuses": self.statuses[key],
            }
            for t in self.issue_types[key]
        ]
        return 200, self.rebase(body)

    @route("GET", r"/rest/api/3/issue/createmeta/(?P<project>[^/]+)/issuetypes")
    def createmeta_issue_types(self, request: FakeRequest):
        key = self._find_project(request.params["project"])
        if key is None:
            return self._no_project(request.params["project"])
        page = self._page(request, self.issue_types[key])
        if page is None:
            return _error(400, "startAt and maxResults must be integers.")
        body = {k: page[k] for k in ("maxResults", "startAt", "total")} | {"issueTypes": page["items"]}
        return 200, self.rebase(body)

    @route("GET", r"/rest/api/3/issue/createmeta/(?P<project>[^/]+)/issuetypes/(?P<issuetype>[^/]+)")
    def createmeta_fields(self, request: FakeRequest):
        key = self._find_project(request.params["project"])
        if key is None:
            return self._no_project(request.params["project"])
        issue_type_id = request.params["issuetype"]
        if not any(t["id"] == issue_type_id for t in self.issue_types[key]):
            return _error(404, f"Issue type with id '{issue_type_id}' does not exist or is not in project '{key}'.")
        page = self._page(request, self.create_fields_for(key, issue_type_id))
        if page is None:
            return _error(400, "startAt and maxResults must be integers.")
        body = {k: page[k] for k in ("maxResults", "startAt", "total")} | {"fields": page["items"]}
        return 200, self.rebase(body)

    @route("GET", r"/rest/api/3/field")
    def field_list(self, request: FakeRequest):
        return 200, self.rebase(self.fields)

    @route("GET", r"/rest/api/3/priority")
    def priority_list(self, request: FakeRequest):
        return 200, self.rebase(self.priorities)

    @route("POST", r"/rest/api/3/issue/(?P<issue>[^/]+)/attachments")
    def attachments_add(self, request: FakeRequest):
        issue = self._find_issue(request.params["issue"])
        if issue is None:
            return _error(404, "Issue does not exist or you do not have permission to see it.")
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return 415, {"errorMessages": ["Unsupported Media Type"], "errors": {}}
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
        )
        created = []
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") != "file":
                continue
            data = part.get_payload(decode=True) or b""
            attachment_id = str(next(self._ids))
            record = {
                "self": f"{self.url}/rest/api/3/attachment/{attachment_id}",
                "id": attachment_id,
                "filename": part.get_filename(),
                "size": len(data),
                "mimeType": part.get_content_type(),
                "content": f"{self.url}/rest/api/3/attachment/content/{attachment_id}",
            }
            self.attachments[attachment_id] = {**record, "issue_id": issue["id"], "data": data}
            created.append(record)
        if not created:
            return _error(400, "No file part named 'file' in the request.")
        return 200, created

    @route("GET", r"/rest/api/3/search")
    def old_search(self, request: FakeRequest):
        return _error(410, "The requested API has been removed. Please migrate to /rest/api/3/search/jql.")
