"""Writes of the connector app that talk to Jira or helpdesks."""

from __future__ import annotations

import logging

from tenants.models import Tenant
from tenants.services import tenant_license_update

from ..clients.jira import JiraClient

logger = logging.getLogger(__name__)


def tenant_license_refresh(*, tenant: Tenant, client: JiraClient | None = None) -> Tenant:
    """Ask Jira for this app's licence on the site (``GET /rest/atlassian-connect/1/addons/{key}``)
    and record it. A response without a ``license`` block (a development install) is "unknown"."""
    from django.conf import settings

    client = client or JiraClient(tenant)
    addon = client.addon(settings.ATLASSIAN_APP_KEY) or {}
    license_block = addon.get("license")
    if isinstance(license_block, dict):
        license = Tenant.License.ACTIVE if license_block.get("active") else Tenant.License.NONE
    else:
        license = Tenant.License.UNKNOWN
    return tenant_license_update(tenant=tenant, license=license)
