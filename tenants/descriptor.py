"""The Atlassian Connect app descriptor, built from settings.

Apps add modules by listing a contributor in ``settings.DESCRIPTOR_CONTRIBUTORS``: a dotted path to a
function ``() -> {"modules": {moduleType: [module, ...]}, "scopes": [...]}``. Module URLs are relative
to ``baseUrl``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.module_loading import import_string

BASE_SCOPES = ["READ", "WRITE"]


def lifecycle_urls() -> dict[str, str]:
    return {
        "installed": reverse("tenants:lifecycle-installed"),
        "uninstalled": reverse("tenants:lifecycle-uninstalled"),
        "enabled": reverse("tenants:lifecycle-enabled"),
        "disabled": reverse("tenants:lifecycle-disabled"),
    }


def build_descriptor() -> dict[str, Any]:
    modules: dict[str, Any] = {}
    scopes = list(BASE_SCOPES)
    for path in getattr(settings, "DESCRIPTOR_CONTRIBUTORS", []):
        contribution = import_string(path)()
        for module_type, items in contribution.get("modules", {}).items():
            if isinstance(items, dict):  # single-valued modules such as configurePage
                modules[module_type] = items
            else:
                modules.setdefault(module_type, []).extend(items)
        for scope in contribution.get("scopes", []):
            if scope not in scopes:
                scopes.append(scope)
    return {
        "key": settings.ATLASSIAN_APP_KEY,
        "name": settings.ATLASSIAN_APP_NAME,
        "description": "Link and synchronize Zendesk and Zoho Desk records with Jira issues.",
        "vendor": {"name": settings.ATLASSIAN_APP_VENDOR_NAME, "url": settings.ATLASSIAN_APP_VENDOR_URL},
        "baseUrl": settings.APP_BASE_URL,
        "links": {"self": f"{settings.APP_BASE_URL}/atlassian-connect.json"},
        "authentication": {"type": "jwt"},
        "lifecycle": lifecycle_urls(),
        "apiMigrations": {"context-qsh": True, "signed-install": True, "gdpr": True},
        "enableLicensing": True,
        "scopes": scopes,
        "modules": modules,
    }
