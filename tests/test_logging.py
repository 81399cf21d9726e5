"""Secrets never reach a log handler's output: not from a message's arguments, not from an exception's
message in a traceback, not from a stack — whichever handler writes it, including ones added after
logging was configured (pytest's caplog, a file handler an operator adds) and Django's mail to admins."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import jwt as pyjwt
import pytest

ROOT = Path(__file__).resolve().parent.parent
JWT = pyjwt.encode({"iss": "jira:4f1c", "qsh": "context-qsh"}, "not-a-real-secret", algorithm="HS256")
# A tenant API token (tenants.services.TOKEN_PREFIX + urlsafe base64), built at run time: a traceback shows
# source lines, and a literal there would be the source, not the secret leaking.
DBT = "dbt_" + secrets.token_urlsafe(16)

# name → (format, args, the secret values that must not appear)
CASES = {
    "jwt_in_url": ("GET %s", (f"https://deskbridge.test/panel?jwt={JWT}",), [JWT]),
    "authorization_header": (
        "calling Zendesk with %s",
        ({"Authorization": "Bearer zd-oauth-7f3a"},),
        ["zd-oauth-7f3a"],
    ),
    "bearer": ("Zendesk refused %s", ("Bearer zd-oauth-0c9d",), ["zd-oauth-0c9d"]),
    "shared_secret": (
        "install body: %s",
        (json.dumps({"clientKey": "jira:1", "sharedSecret": "ss-91b2 with-space"}),),
        ["ss-91b2", "with-space"],
    ),
    "api_token": ("connecting with %s", ("email=agent@acme.test api_token=zd-api-6d2e",), ["zd-api-6d2e"]),
    "access_token": ("token answer %r", ({"access_token": "at-5c1d", "token_type": "bearer"},), ["at-5c1d"]),
    "refresh_token": ("refreshing with refresh_token=%s", ("rt-8e4f",), ["rt-8e4f"]),
    "client_secret": (
        "token request %s",
        ("grant_type=refresh_token&client_id=deskbridge&client_secret=cs-2a7b",),
        ["cs-2a7b"],
    ),
    "password": ("login %r", ({"user": "ops", "password": "hunter2 horse"},), ["hunter2", "horse"]),
    "tenant_api_token": ("tenant API call with %s", (DBT,), [DBT]),
}

logger = logging.getLogger("connector.clients.zendesk")  # a named logger: records reach root by propagation


@pytest.fixture
def fresh_handler():
    """A plain handler added now, long after LOGGING was applied, with no filter of its own — on a parent
    logger, as an operator adds a file handler for one app, so it runs before the root's console handler
    (whose filter would otherwise have redacted the record in place first)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    parent = logging.getLogger("connector")
    parent.addHandler(handler)
    yield stream
    parent.removeHandler(handler)


def assert_clean(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text
    assert "[redacted" in text


@pytest.mark.parametrize("case", sorted(CASES))
def test_secret_in_log_arguments_never_reaches_a_handler(fresh_handler, caplog, case):
    fmt, args, secrets = CASES[case]
    logger.warning(fmt, *args)
    assert_clean(fresh_handler.getvalue(), secrets)
    assert_clean(caplog.text, secrets)
    assert fmt.split("%")[0] in caplog.text  # the rest of the message is still there


@pytest.mark.parametrize("where", ["message", "cause"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_secret_in_an_exception_never_reaches_a_handler(fresh_handler, caplog, case, where):
    fmt, args, secrets = CASES[case]
    try:
        if where == "message":
            raise RuntimeError(fmt % args)
        try:
            raise ValueError(fmt % args)
        except ValueError as exc:
            raise RuntimeError("Zendesk refused the call") from exc
    except RuntimeError:
        logger.exception("sync run failed")
    for output in (fresh_handler.getvalue(), caplog.text):
        assert_clean(output, secrets)
        assert "sync run failed" in output and "Traceback (most recent call last)" in output
        assert "RuntimeError" in output


def _log_slow_call(headers):
    logger.warning("slow call to Zendesk", stack_info=True)


def test_secret_in_a_stack_never_reaches_a_handler(fresh_handler, caplog):
    # A stack shows each frame's source line: here a call that builds its header inline.
    _log_slow_call(headers={"Authorization": "Bearer zd-oauth-stack-1b9c"})
    for output in (fresh_handler.getvalue(), caplog.text):
        assert_clean(output, ["zd-oauth-stack-1b9c"])
        assert "Stack (most recent call last)" in output and "_log_slow_call" in output


def test_mail_to_admins_is_redacted(settings, mailoutbox):
    """Django's mail_admins renders the exception itself (not through a formatter)."""
    settings.ADMINS = [("Ops", "ops@deskbridge.test")]
    try:
        raise RuntimeError("Zendesk answered 401 to Authorization: Bearer zd-oauth-mail-5e0a")
    except RuntimeError:
        logging.getLogger("django.request").error("Internal Server Error: %s", f"/panel?jwt={JWT}", exc_info=True)
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    for secret in (JWT, "zd-oauth-mail-5e0a"):
        assert secret not in mail.subject and secret not in mail.body
    assert "RuntimeError" in mail.body and "[redacted" in mail.body


def test_args_that_do_not_fit_the_format_are_dropped_not_printed(capfd):
    """A bad ``%`` format: logging's own error path would print the raw arguments to stderr."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    # Not propagating: pytest's own capture handlers raise on a bad record instead of printing it, which
    # would hide what a real handler (console, file) does.
    bad = logging.getLogger("tests.logging.bad_format")
    bad.addHandler(handler)
    bad.propagate, bad.level = False, logging.INFO
    try:
        bad.info("calling Zendesk with %s %s", DBT)  # two placeholders, one argument
    finally:
        bad.removeHandler(handler)
        bad.propagate, bad.level = True, logging.NOTSET
    out, err = capfd.readouterr()
    for output in (stream.getvalue(), out, err):
        assert DBT not in output
        assert "Arguments:" not in output and "--- Logging error ---" not in output
    assert "calling Zendesk with %s %s [log arguments dropped" in stream.getvalue()


def _fail_with_credentials_in_locals():
    credential = "dbt_" + secrets.token_urlsafe(16)
    headers = {"Authorization": "Bearer zd-oauth-" + secrets.token_hex(8)}
    if credential and headers:  # as a client would, after sending them
        raise RuntimeError("Zendesk refused the call")


def test_html_error_report_is_redacted():
    """The HTML report shows each frame's local variables: a token held there must not appear."""
    from config.logging import RedactingExceptionReporter

    try:
        _fail_with_credentials_in_locals()
    except RuntimeError:
        exc_type, exc, tb = sys.exc_info()
    html = RedactingExceptionReporter(None, exc_type, exc, tb).get_traceback_html()
    # Read the values the raising frame held only now: this frame's locals are in the report too.
    held = tb.tb_next.tb_frame.f_locals
    credential, bearer = held["credential"], held["headers"]["Authorization"].split()[1]
    assert "_fail_with_credentials_in_locals" in html and "Zendesk refused the call" in html
    assert credential not in html and bearer not in html
    assert "[redacted-token]" in html and "[redacted]" in html


def test_records_made_outside_a_logger_are_redacted_by_the_console_filter():
    """Records rebuilt with makeLogRecord (e.g. received from another process) skip the record factory."""
    from config.logging import RedactSecretsFilter

    try:
        raise RuntimeError("sharedSecret=ss-remote-77aa")
    except RuntimeError:
        record = logging.makeLogRecord(
            {"msg": "remote %s", "args": ("api_token=zd-remote-31cd",), "exc_info": sys.exc_info()}
        )
    RedactSecretsFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "zd-remote-31cd" not in text and "ss-remote-77aa" not in text
    assert "RuntimeError" in text


def test_settings_install_redaction_in_every_process():
    """A manage.py process (as web and qcluster: anything that calls django.setup()) redacts too."""
    code = "\n".join(
        [
            "import logging, sys",
            "logging.getLogger('sync').addHandler(logging.StreamHandler(sys.stdout))",  # runs before root's
            "log = logging.getLogger('sync.tasks')",
            "log.warning('calling with %s', 'Authorization: Bearer zd-oauth-proc-2d4b')",
            "try:",
            "    raise RuntimeError('install body sharedSecret=ss-proc-6a1f')",
            "except RuntimeError:",
            "    log.exception('install failed')",
        ]
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "install failed" in result.stdout and "RuntimeError" in result.stdout
    for output in (result.stdout, result.stderr):
        assert "zd-oauth-proc-2d4b" not in output and "ss-proc-6a1f" not in output
