"""Fixtures of the sync tests."""

from __future__ import annotations

import pytest

from tests.conftest import ZD_EMAIL, ZD_SUBDOMAIN


@pytest.fixture
def admin_agent(zendesk):
    """Reading the incremental exports needs a Zendesk admin."""
    for user in zendesk.accounts[ZD_SUBDOMAIN].users.values():
        if user["email"] == ZD_EMAIL:
            user["role"] = "admin"


def committed_tenant(jira):
    """A licensed tenant for ``jira`` with project SUP, written for tests with real transactions."""
    from tenants.models import Tenant

    tenant = Tenant.objects.create(
        client_key=jira.client_key,
        app_key=jira.app_key,
        base_url=jira.url,
        shared_secret=jira.shared_secret,
        license=Tenant.License.ACTIVE,
    )
    jira.add_project("SUP", "Support")
    return tenant


def committed_site(jira, zendesk):
    """A licensed tenant for ``jira``, project SUP and a Zendesk connection of an admin agent, written for
    tests with real transactions (other threads and processes see them)."""
    from connector.services import zendesk_connect
    from tests.conftest import ZD_TOKEN

    tenant = committed_tenant(jira)
    for user in zendesk.accounts[ZD_SUBDOMAIN].users.values():
        user["role"] = "admin"
    return tenant, zendesk_connect(tenant=tenant, subdomain=ZD_SUBDOMAIN, email=ZD_EMAIL, api_token=ZD_TOKEN)
