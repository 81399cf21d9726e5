"""What a person sees who starts the server: `/` lists where everything is, `/api/docs/` works offline (Swagger
UI from our own static files), and the README's URL table, `make run`'s printout and the landing page say the
same thing — checked here so that they cannot drift apart — with `APP_BASE_URL` following `make run PORT=…`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.core.management import call_command

from tests.sync.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
URL = re.compile(r"https?://[^\s|)`'\"<>]+")
CDN = re.compile(r"cdn|jsdelivr|unpkg|cdnjs|googleapis", re.IGNORECASE)


def readme_urls() -> list[str]:
    """Every URL of the table under "`make run` prints the URLs it serves", in order."""
    text = (ROOT / "README.md").read_text()
    start = text.index("`make run` prints the URLs it serves")
    rows = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    urls = [url.rstrip(".,") for row in rows for url in URL.findall(row)]
    assert len(urls) >= 7, rows
    return urls


def make_run_dry(*args: str) -> str:
    """The commands `make run` would run (nothing is executed)."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def printed_urls(dry_run: str) -> list[str]:
    return [url for line in dry_run.splitlines() if line.startswith("echo ") for url in URL.findall(line)]


def test_make_run_prints_every_url_of_the_readme_table():
    printed = printed_urls(make_run_dry())
    missing = [url for url in readme_urls() if url not in printed]
    assert not missing, f"README lists URLs `make run` does not print: {missing}"


def test_make_run_prints_the_port_it_serves_on():
    dry = make_run_dry("PORT=9123")
    expected = [url.replace(":8000/", ":9123/") for url in readme_urls()]
    assert [url for url in expected if url not in printed_urls(dry)] == []
    assert "--port 9123" in dry.splitlines()[-1]


@pytest.mark.django_db
def test_every_readme_url_answers(client):
    for url in readme_urls():
        path = urlsplit(url).path
        response = client.get(path)
        assert response.status_code != 404, f"{path} answered 404"
        assert response.status_code < 500, f"{path} answered {response.status_code}"


@pytest.mark.django_db
def test_landing_page_links_every_readme_url(client, settings):
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    hrefs = re.findall(r'<a href="([^"]+)"', html)
    paths = [urlsplit(href).path for href in hrefs]
    wanted = [urlsplit(url).path for url in readme_urls() if urlsplit(url).path != "/"]
    assert [path for path in wanted if path not in paths] == []
    assert all(href.startswith("http://testserver/") for href in hrefs)  # the host the page was asked on
    assert settings.APP_BASE_URL in html  # the base URL Jira is told


@pytest.mark.django_db
def test_landing_page_answers_get_only(client):
    """`/` is a page to read, nothing to post to."""
    assert client.post("/").status_code == 405


# --- /api/docs/ offline ---------------------------------------------------------------------------------


def docs_assets(html: str) -> list[str]:
    return re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)


@pytest.mark.django_db
def test_api_docs_reference_no_external_host(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert not CDN.search(html), CDN.search(html)
    assert URL.findall(html) == []  # every asset is on this server
    assets = docs_assets(html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    assert any(a.endswith("swagger-ui.css") for a in assets), assets


@pytest.mark.parametrize("mode", ["collected", "finders"])
@pytest.mark.django_db
def test_api_docs_assets_are_served_by_the_app(client, settings, tmp_path, mode):
    """In production WhiteNoise serves what `collectstatic` gathered; under `make run` (DEBUG) it serves the
    apps' static folders directly. Either way the Swagger UI files the docs page names answer 200."""
    if mode == "collected":
        settings.STATIC_ROOT = tmp_path / "static"
        call_command("collectstatic", "--noinput", verbosity=0)
    else:
        settings.WHITENOISE_USE_FINDERS = True
        settings.WHITENOISE_AUTOREFRESH = True
    html = client.get("/api/docs/").content.decode()
    assets = docs_assets(html)
    assert len(assets) >= 4, assets  # favicon, css, bundle, standalone preset
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 100, asset
    bundle = next(a for a in assets if a.endswith("swagger-ui-bundle.js"))
    assert client.get(bundle)["Content-Type"].startswith(("text/javascript", "application/javascript"))


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_api_docs_render_in_a_browser_with_no_request_off_loopback(browser, live_server):
    off_loopback: list[str] = []

    def route(r):
        host = urlsplit(r.request.url).hostname or ""
        if r.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            r.continue_()
        else:
            off_loopback.append(r.request.url)
            r.abort("blockedbyclient")

    context = browser.new_context()
    context.route("**/*", route)
    page = context.new_page()
    page.goto(f"{live_server.url}/api/docs/")
    title = page.locator(".swagger-ui .info .title")
    title.wait_for(timeout=15_000)
    assert "Deskbridge API" in title.inner_text()
    page.locator(".opblock").first.wait_for()  # the operations of /api/schema/ are listed
    context.close()
    assert off_loopback == []


# --- make run itself --------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_make_run_serves_every_printed_url_and_the_descriptor_follows_the_port(tmp_path):
    """`make run PORT=<free>` for real (migrate, schedules, web + task cluster) on a fresh SQLite file: each
    URL it prints answers, and the descriptor's baseUrl is that host and port."""
    dot_env = ROOT / ".env"
    if dot_env.exists() and re.search(r"^APP_BASE_URL=", dot_env.read_text(), re.MULTILINE):
        pytest.skip(".env sets APP_BASE_URL, which `make run` keeps: the descriptor cannot follow the port here")
    port = free_port()
    parent_make = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    env = {k: v for k, v in os.environ.items() if k not in ("APP_BASE_URL", "DJANGO_READ_DOT_ENV_FILE", *parent_make)}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        Q_WORKERS="1",
    )
    log = tmp_path / "make-run.log"
    # -o: never reinstall the venv here even when pyproject.toml is newer than the install stamp.
    command = ["make", "--no-print-directory", "-o", ".venv/.installed-stamp", "run", f"PORT={port}"]
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code in (200, 503):
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        printed = URL.findall(log.read_text())
        assert f"{base}/atlassian-connect.json" in printed, log.read_text()
        served = [url for url in printed if url.startswith(base)]
        assert len(served) >= len(readme_urls())
        for url in served:
            assert requests.get(url, timeout=10, allow_redirects=False).status_code not in (404, 500), url
        descriptor = requests.get(f"{base}/atlassian-connect.json", timeout=10).json()
        assert descriptor["baseUrl"] == base
        assert f"APP_BASE_URL   : {base}" in log.read_text()
        assert base in requests.get(f"{base}/", timeout=10).text  # the landing page names it too
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_landing_page_has_no_serious_accessibility_violation(browser, live_server):
    from tests.a11y import assert_no_serious_violations

    page = browser.new_page()
    try:
        page.goto(f"{live_server.url}/")
        assert page.get_by_role("link", name=f"{live_server.url}/healthz").is_visible()
        assert_no_serious_violations(page, name="landing page")
    finally:
        page.close()
