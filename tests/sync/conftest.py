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
