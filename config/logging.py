"""Log filter that keeps secrets out of logs even if a careless call passes one."""

import logging
import re

_PATTERNS = [
    # JWTs (three base64url segments), in URLs, headers or messages.
    re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    # Authorization header values.
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(\w+\s+)?[^\s'\",}]+"),
    re.compile(
        r"(?i)((?:shared_?secret|api_?token|password|refresh_?token|access_?token)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}]+"
    ),
]


def redact(text: str) -> str:
    text = _PATTERNS[0].sub("[redacted-jwt]", text)
    text = _PATTERNS[1].sub(lambda m: m.group(1) + "[redacted]", text)
    return _PATTERNS[2].sub(lambda m: m.group(1) + "[redacted]", text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
