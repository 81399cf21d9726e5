"""Keep secrets out of logs even when a careless call passes one — whichever handler writes the record.

Mechanism: a ``LogRecord`` factory, installed by ``LOGGING`` (building its ``redact`` filter calls
``install_redaction``), so it runs in every process that calls ``django.setup()`` — web, qcluster and
``manage.py``. Every record a logger makes passes through it *before* any handler sees it, and it redacts
in place:

- the message: ``msg % args`` is rendered and redacted; when that changes anything, ``msg`` becomes the
  redacted text and ``args`` None;
- the traceback: ``exc_text`` is rendered from ``exc_info`` now, as ``logging.Formatter`` would, and
  redacted; formatters reuse a set ``exc_text`` instead of re-rendering ``exc_info``;
- ``stack_info``.

Why not a filter: a filter on a logger does not see records propagated from its children, and a filter on
a handler misses every handler added later (pytest's caplog, a file handler an operator adds). The factory
covers every logger and every formatter-based handler, whenever it was added.

``exc_info`` itself is left in place (tests and error trackers want the exception object). The one handler
here that renders it without a formatter is Django's ``AdminEmailHandler``; ``LOGGING`` gives it
``RedactingExceptionReporter``. Fields passed with ``extra=`` are set after the factory has run and are not
redacted: do not put secrets there.
"""

from __future__ import annotations

import logging
import re

from django.views.debug import ExceptionReporter

# A quote as it appears in code, JSON, escaped JSON and HTML-escaped text.
_Q = r"(?:\\?['\"]|&quot;|&#x27;|&#39;)"
_SECRET_KEYS = r"shared_?secret|client_?secret|api_?token|access_?token|refresh_?token|password"
# A quoted value runs to its closing quote (so spaces inside cannot leak); an unquoted one to a delimiter.
_VALUE = r"(?:(?P<q>\\?['\"])(?:(?!(?P=q)).)*(?P=q)|(?P<h>&quot;|&#x27;|&#39;).*?(?P=h)|\\?['\"]?[^\s'\",}<]+)"

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Our tenant API tokens: ``tenants.services.TOKEN_PREFIX`` followed by urlsafe base64.
_API_TOKEN = re.compile(r"dbt_[A-Za-z0-9_-]+")
_AUTHORIZATION = re.compile(rf"(?i)(authorization{_Q}?\s*[:=]\s*{_Q}?)(\w+\s+)?[^\s'\",}}<]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/-]+=*")
_KEY_VALUE = re.compile(rf"(?i)((?:{_SECRET_KEYS}){_Q}?\s*[:=]\s*){_VALUE}")

_TRACEBACKS = logging.Formatter()


def redact(text: str) -> str:
    text = _JWT.sub("[redacted-jwt]", text)
    text = _API_TOKEN.sub("[redacted-token]", text)
    text = _AUTHORIZATION.sub(lambda m: m.group(1) + "[redacted]", text)
    text = _BEARER.sub(lambda m: m.group(1) + "[redacted]", text)
    return _KEY_VALUE.sub(lambda m: m.group(1) + "[redacted]", text)


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record's message, traceback and stack in place (idempotent)."""
    try:
        message = record.getMessage()
    except Exception:  # a format that does not fit its arguments: say so, without printing the arguments
        record.msg, record.args = redact(f"{record.msg} [log arguments dropped: they do not fit the format]"), None
    else:
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        record.exc_text = _TRACEBACKS.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactSecretsFilter(logging.Filter):
    """Redacts a record at a handler: a second line of defence for records the factory never saw (built
    with ``logging.makeLogRecord``, e.g. received from another process)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def _redacting(factory):
    def make_record(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        redact_record(record)
        return record

    make_record.redacts_secrets = True
    return make_record


def install_redaction() -> RedactSecretsFilter:
    """Make every LogRecord redacted at creation; returns the handler filter. ``LOGGING`` calls this."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacts_secrets", False):
        logging.setLogRecordFactory(_redacting(current))
    return RedactSecretsFilter()


class RedactingExceptionReporter(ExceptionReporter):
    """The error report ``AdminEmailHandler`` mails, redacted (it renders ``exc_info`` itself)."""

    def get_traceback_text(self) -> str:
        return redact(super().get_traceback_text())

    def get_traceback_html(self) -> str:
        return redact(super().get_traceback_html())
