"""Fixtures of the configuration API and admin page tests: API clients (tenant API token or a Jira
context JWT), a second installed tenant with its own Jira site and Zendesk account, and a driver for
the server-rendered admin page that carries the page session forward like a browser would."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import pytest

from demo.fakes.jira import FakeJira
from tests.conftest import ADMIN_ACCOUNT, ZD_SUBDOMAIN, post_lifecycle

ADMIN_QUERY = "lic=active&xdm_e=https%3A%2F%2Fx.atlassian.net&cp=&tz=UTC&loc=en-US"
B_SUBDOMAIN = "beta"
B_EMAIL = "bob@beta.test"
B_TOKEN = "zd-beta-token-9876543210"
B_ADMIN = "beta-admin-1"


class ApiClient:
    """Django test client calls with one Authorization header; bodies are JSON."""

    def __init__(self, client, authorization: str) -> None:
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": authorization}

    def get(self, path: str, **kw):
        return self.client.get(path, **self.headers, **kw)

    def delete(self, path: str):
        return self.client.delete(path, **self.headers)

    def post(self, path: str, data: Any = None):
        return self._send("post", path, data if data is not None else {})

    def put(self, path: str, data: Any):
        return self._send("put", path, data)

    def patch(self, path: str, data: Any):
        return self._send("patch", path, data)

    def call(self, method: str, path: str, data: Any = None):
        if method == "get":
            return self.get(path)
        if method == "delete":
            return self.delete(path)
        return self._send(method, path, data if data is not None else {})

    def _send(self, method: str, path: str, data: Any):
        return getattr(self.client, method)(
            path, data=json.dumps(data), content_type="application/json", **self.headers
        )


@pytest.fixture
def bearer(client, api_token) -> ApiClient:
    return ApiClient(client, f"Bearer {api_token}")


@pytest.fixture
def jwt_api(client, jira, tenant):
    """``jwt_api(account_id)``: calls with a context JWT (``AP.context.getToken()``) of that Jira user."""

    def make(account_id: str = ADMIN_ACCOUNT) -> ApiClient:
        return ApiClient(client, f"JWT {jira.context_token(account_id=account_id)}")

    return make


@pytest.fixture
def admin_api(jwt_api, project) -> ApiClient:
    return jwt_api(ADMIN_ACCOUNT)


# --- a second tenant -----------------------------------------------------------------------------------


@dataclass
class OtherTenant:
    jira: FakeJira
    tenant: Any
    token: str
    connection: Any
    bearer: ApiClient
    jwt: ApiClient


@pytest.fixture
def other(client, settings, install_keys, zendesk, tenant):
    """Tenant B: its own Jira site (project OPS, admin B_ADMIN) installed through the lifecycle callback,
    its own Zendesk account, connection and API token."""
    from connector.services import zendesk_connect
    from tenants.models import Tenant
    from tenants.services import api_token_create

    jira_b = FakeJira(app_key=settings.ATLASSIAN_APP_KEY, install_keys=install_keys).start()
    try:
        response = post_lifecycle(client, jira_b, "installed")
        assert response.status_code == 204, response.content
        tenant_b = Tenant.objects.get(client_key=jira_b.client_key)
        tenant_b.license = Tenant.License.ACTIVE
        tenant_b.save(update_fields=["license"])
        jira_b.admins.add(B_ADMIN)
        jira_b.add_project("OPS", "Beta Operations")
        zendesk.add_account(B_SUBDOMAIN)
        zendesk.add_agent(B_SUBDOMAIN, B_EMAIL, B_TOKEN, name="Bob Beta")
        connection_b = zendesk_connect(tenant=tenant_b, subdomain=B_SUBDOMAIN, email=B_EMAIL, api_token=B_TOKEN)
        _, token_b = api_token_create(tenant=tenant_b, name="beta script", created_by="test")
        yield OtherTenant(
            jira=jira_b,
            tenant=tenant_b,
            token=token_b,
            connection=connection_b,
            bearer=ApiClient(client, f"Bearer {token_b}"),
            jwt=ApiClient(client, f"JWT {jira_b.context_token(account_id=B_ADMIN)}"),
        )
    finally:
        jira_b.stop()


# --- the admin page ------------------------------------------------------------------------------------

SESSION_RE = re.compile(r'name="session" value="([^"]+)"')


def page_text(response) -> str:
    """The visible text of a page: tags removed, entities decoded, whitespace collapsed."""
    body = response.content.decode()
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.DOTALL)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def field_errors(response, field_id: str) -> list[str]:
    """The ``field-error`` messages rendered right after the form control with ``id=field_id``."""
    body = response.content.decode()
    match = re.search(rf'<(input|select|textarea)\b[^>]*\bid="{re.escape(field_id)}"[^>]*>', body)
    assert match, f"no form control with id {field_id!r}"
    end = match.end()
    if match.group(1) in ("select", "textarea"):
        end = body.index(f"</{match.group(1)}>", end) + len(match.group(1)) + 3
    messages = []
    span = re.compile(r'\s*(?:<small>[^<]*</small>\s*)?<span class="field-error">(.*?)</span>')
    while match := span.match(body, end):
        messages.append(html.unescape(match.group(1)))
        end = match.end()
    return messages


def error_codes(response) -> list[str]:
    return re.findall(r'<li data-code="([^"]+)">', response.content.decode())


def selected(response, name: str) -> str | None:
    """The selected option's value of the ``<select name=name>`` (None when nothing is selected)."""
    body = response.content.decode()
    match = re.search(rf'<select[^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', body, flags=re.DOTALL)
    assert match, f"no select named {name!r}"
    option = re.search(r'<option value="([^"]*)"\s*selected>', match.group(1))
    return html.unescape(option.group(1)) if option else None


def checked(response, name: str, value: str | None = None) -> bool:
    """Whether the checkbox (or switch) ``name`` (with ``value``) is rendered ticked."""
    body = response.content.decode()
    value_part = rf'\s+value="{re.escape(value)}"' if value is not None else ""
    match = re.search(rf'<input type="checkbox" name="{re.escape(name)}"{value_part}(?=[\s>])([^>]*)>', body)
    assert match, f"no checkbox {name}={value}"
    return bool(re.search(r"(?:^|\s)checked(?:\s|$)", match.group(1)))


def input_value(response, name: str) -> str | None:
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', response.content.decode())
    return html.unescape(match.group(1)) if match else None


def textarea(response, name: str) -> str:
    match = re.search(rf'<textarea name="{re.escape(name)}"[^>]*>(.*?)</textarea>', response.content.decode(), re.S)
    assert match, f"no textarea {name}"
    return html.unescape(match.group(1))


class _Forms(HTMLParser):
    """The forms of a page and what a browser would submit from each (successful controls only)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: dict[str, Any] | None = None
        self._option: dict[str, Any] | None = None
        self._textarea: dict[str, Any] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"fields": [], "buttons": []}
            self.forms.append(self._form)
        if self._form is None:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind == "checkbox":
                if "checked" in a:
                    self._form["fields"].append((a["name"], a.get("value") or "on"))
            elif kind != "submit":
                self._form["fields"].append((a["name"], a.get("value") or ""))
        elif tag == "button" and a.get("name"):
            self._form["buttons"].append((a["name"], a.get("value") or ""))
        elif tag == "select":
            self._select = {"name": a.get("name"), "options": [], "selected": None}
        elif tag == "option" and self._select is not None:
            self._option = {"value": a.get("value"), "text": ""}
            self._select["options"].append(self._option)
            if "selected" in a:
                self._select["selected"] = self._option
        elif tag == "textarea":
            self._textarea = {"name": a.get("name"), "text": ""}

    def handle_data(self, data):
        if self._option is not None:
            self._option["text"] += data
        if self._textarea is not None:
            self._textarea["text"] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "option":
            self._option = None
        elif tag == "select" and self._select is not None:
            chosen = self._select["selected"] or (self._select["options"] or [None])[0]
            if chosen is not None and self._form is not None and self._select["name"]:
                value = chosen["value"] if chosen["value"] is not None else chosen["text"]
                self._form["fields"].append((self._select["name"], value))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            if self._form is not None and self._textarea["name"]:
                text = self._textarea["text"].removeprefix("\n")
                self._form["fields"].append((self._textarea["name"], text))
            self._textarea = None


def form_data(response, action: str) -> dict[str, list[str]]:
    """What a browser submits from the form of ``response`` whose submit button (or hidden ``action``) is
    ``action``; the ``action`` itself is left out."""
    parser = _Forms()
    parser.feed(response.content.decode())
    for form in parser.forms:
        if ("action", action) in form["buttons"] or ("action", action) in form["fields"]:
            data: dict[str, list[str]] = {}
            for name, value in form["fields"]:
                if name != "action":
                    data.setdefault(name, []).append(value)
            return data
    raise AssertionError(f"no form on the page submits action {action!r}")


class AdminPage:
    """A browser on the Deskbridge admin page inside Jira: loads it with a qsh-bound JWT, then posts its
    forms with the page session the last response rendered."""

    path = "/jira/admin"

    def __init__(self, client, jira: FakeJira, account_id: str = ADMIN_ACCOUNT) -> None:
        self.client = client
        self.jira = jira
        self.account_id = account_id
        self.session: str | None = None

    def open(self, query: str = ADMIN_QUERY):
        relative = f"{self.path}?{query}"
        token = self.jira.sign("GET", relative, account_id=self.account_id)
        return self._remember(self.client.get(f"{relative}&jwt={token}"))

    def post(self, action: str, data: dict[str, Any] | None = None):
        assert self.session, "open the page first"
        payload = {"session": self.session, "action": action, **(data or {})}
        return self._remember(self.client.post(self.path, payload))

    def submit(self, response, action: str, **changes: Any):
        """Submit the form of ``response`` that has ``action`` as a browser would, with fields changed
        (a value, a list for several, or None to leave a field out — an unticked checkbox)."""
        data: dict[str, Any] = form_data(response, action)
        for name, value in changes.items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
        data.pop("session", None)
        return self.post(action, data)

    def connect(self, subdomain: str = ZD_SUBDOMAIN, email: str | None = None, api_token: str | None = None):
        from tests.conftest import ZD_EMAIL, ZD_TOKEN

        return self.post(
            "connect",
            {
                "subdomain": subdomain,
                "email": ZD_EMAIL if email is None else email,
                "api_token": ZD_TOKEN if api_token is None else api_token,
            },
        )

    def _remember(self, response):
        match = SESSION_RE.search(response.content.decode())
        if match:
            self.session = html.unescape(match.group(1))
        return response


@pytest.fixture
def admin_page(client, jira, tenant, project) -> AdminPage:
    return AdminPage(client, jira)
