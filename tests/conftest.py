"""Shared fixtures: loopback fakes (install-keys service, Jira site) and an installed tenant."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from django.core.cache import cache
from django.db import connection

from demo.fakes.jira import FakeInstallKeys, FakeJira

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (row locks / skip_locked); set DATABASE_URL to a PostgreSQL database",
)


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def install_keys(settings):
    fake = FakeInstallKeys().start()
    settings.ATLASSIAN_INSTALL_KEYS_URL = fake.url
    yield fake
    fake.stop()


@pytest.fixture
def jira(settings, install_keys):
    fake = FakeJira(app_key=settings.ATLASSIAN_APP_KEY, install_keys=install_keys).start()
    yield fake
    fake.stop()


def post_lifecycle(client, jira: FakeJira, event: str, payload=None, *, token: str | None = None, settings=None):
    """POST a lifecycle callback as Jira does (signed-install RS256 for installed/uninstalled)."""
    from django.conf import settings as dj_settings

    path = f"/connect/{event}"
    if token is None:
        if event in ("installed", "uninstalled"):
            token = jira.sign_install("POST", path, aud=dj_settings.APP_BASE_URL)
        else:
            token = jira.sign("POST", path, account_id=None)
    body = payload if payload is not None else jira.install_payload(eventType=event)
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"JWT {token}")


@pytest.fixture
def tenant(db, client, jira):
    """A tenant installed through the real lifecycle callback, licensed."""
    from tenants.models import Tenant

    response = post_lifecycle(client, jira, "installed")
    assert response.status_code == 204, response.content
    t = Tenant.objects.get(client_key=jira.client_key)
    t.license = Tenant.License.ACTIVE
    t.save(update_fields=["license"])
    return t


# --- helpdesk fakes and configuration fixtures ---------------------------------------------------------

ZD_SUBDOMAIN = "acme"
ZD_EMAIL = "agent@acme.test"
ZD_TOKEN = "zd-api-token-0123456789"
ADMIN_ACCOUNT = "admin-account-1"
USER_ACCOUNT = "plain-user-1"


@pytest.fixture
def zendesk(settings):
    from demo.fakes.zendesk import FakeZendesk

    fake = FakeZendesk().start()
    settings.ZENDESK_URL_TEMPLATE = fake.url_template
    fake.add_account(ZD_SUBDOMAIN)
    fake.add_agent(ZD_SUBDOMAIN, ZD_EMAIL, ZD_TOKEN, name="Ada Agent")
    yield fake
    fake.stop()


ZOHO_DC = "eu"
ZOHO_CLIENT_ID = "1000.DESKBRIDGETESTCLIENT01"
ZOHO_SECRET = "zoho-self-client-secret-0123456789"


@pytest.fixture
def zoho(settings):
    """The fake Zoho Desk (every data center), one organization in ``eu`` with an agent and a Self Client.
    ``zoho.org`` and ``zoho.agent`` are the seeded organization and agent."""
    from demo.fakes.zoho_desk import FakeZohoDesk

    fake = FakeZohoDesk().start()
    settings.ZOHO_ACCOUNTS_URL_OVERRIDE = fake.accounts_url_template
    settings.ZOHO_DESK_URL_OVERRIDE = fake.desk_url_template
    settings.ZOHO_SEARCH_SETTLE_SECONDS = 0  # the fake's search has no index lag
    fake.org = fake.add_org(ZOHO_DC, name="Acme Support", portal_name="acmesupport")
    fake.agent = fake.add_agent(fake.org.id, name="Zoe Agent", email="zoe@acme.test")
    fake.add_self_client(
        ZOHO_DC, client_id=ZOHO_CLIENT_ID, client_secret=ZOHO_SECRET, user=fake.agent, orgs=[fake.org.id]
    )
    yield fake
    fake.stop()


@pytest.fixture
def zoho_code(zoho):
    """A fresh Self Client code (keyword arguments go to ``FakeZohoDesk.self_client_code``)."""
    return lambda **kwargs: zoho.self_client_code(ZOHO_CLIENT_ID, **kwargs)


@pytest.fixture
def zoho_connection(tenant, zoho, zoho_code, project):
    from connector.services.zoho import zoho_connect

    return zoho_connect(
        tenant=tenant, data_center=ZOHO_DC, client_id=ZOHO_CLIENT_ID, client_secret=ZOHO_SECRET, code=zoho_code()
    )


@pytest.fixture
def project(jira):
    """Jira project SUP with the fake's default issue types and create screens; ADMIN_ACCOUNT is a Jira admin."""
    jira.admins.add(ADMIN_ACCOUNT)
    return jira.add_project("SUP", "Support")


@pytest.fixture
def connection(tenant, zendesk, project):
    from connector.services import zendesk_connect

    return zendesk_connect(tenant=tenant, subdomain=ZD_SUBDOMAIN, email=ZD_EMAIL, api_token=ZD_TOKEN)


@pytest.fixture
def api_token(tenant):
    from tenants.services import api_token_create

    _, token = api_token_create(tenant=tenant, name="ci script", created_by="test")
    return token


@pytest.fixture
def api(client, api_token):
    """Django test client calls with ``Authorization: Bearer <tenant API token>``."""

    class Api:
        def __init__(self, token):
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

        def get(self, path, **kw):
            return client.get(path, **self.headers, **kw)

        def delete(self, path):
            return client.delete(path, **self.headers)

        def post(self, path, data=None):
            return client.post(path, data=json.dumps(data or {}), content_type="application/json", **self.headers)

        def put(self, path, data):
            return client.put(path, data=json.dumps(data), content_type="application/json", **self.headers)

        def patch(self, path, data):
            return client.patch(path, data=json.dumps(data), content_type="application/json", **self.headers)

    return Api(api_token)


# --- a real browser (Debian's chromium, driven by Playwright; never a downloaded browser) -----------------

CHROMIUM = "/usr/bin/chromium"
SHOTS = os.environ.get("DESKBRIDGE_SCREENSHOT_DIR", "/tmp")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Belt and braces under the routing of ``connect_host``: no host name but localhost resolves, so
    # nothing the browser does (preconnects, a context without routes) can reach the internet.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
]


def _browser_or_skip():
    if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
        reason = "no browser: Debian's chromium package is not installed (make test installs it with apt-get as root)"
        if os.environ.get("DESKBRIDGE_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - dev dependency
        pytest.fail("playwright is a dev dependency; run make test")
    return sync_playwright


@pytest.fixture
def browser(monkeypatch):
    sync_playwright = _browser_or_skip()
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are still
    # synchronous, so tell Django not to refuse them.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def connect_host(browser, jira, live_server):
    """Jira's page around our iframe (``tests/fakes/connect_bridge.py``): ``connect_host.open(path,
    query=..., account_id=...)`` loads a page as Jira embeds it, serves the fake ``all.js`` in place of
    Atlassian's CDN (``AP.context.getToken()`` mints real context tokens of ``jira``), and fails the test
    if the browser sends any request off loopback."""
    from tests.fakes.connect_bridge import FakeConnectHost

    host = FakeConnectHost(browser=browser, jira=jira, app_url=live_server.url)
    try:
        yield host
    finally:
        host.close()
    host.check()
