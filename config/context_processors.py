"""Template context every page gets."""

from django.conf import settings


def connect(request) -> dict[str, str]:
    """Where the pages Jira frames load Connect's ``all.js`` from (``settings.CONNECT_ALL_JS_URL``)."""
    return {"connect_all_js_url": settings.CONNECT_ALL_JS_URL}
