"""django-q2 task functions: take ids, call services, retry only typed transient errors."""

from __future__ import annotations

import logging

from django.db import transaction
from django_q.tasks import async_task

from connector.clients.base import ApiError
from connector.services import tenant_license_refresh
from tenants.models import Tenant
from tenants.selectors import tenants_for_license_check

logger = logging.getLogger(__name__)


def license_refresh_dispatch() -> int:
    """Schedule entry point: one task per active tenant, so one slow site never blocks the others."""
    tenants = tenants_for_license_check()
    for tenant in tenants:
        transaction.on_commit(lambda tid=tenant.pk: async_task("sync.tasks.license_refresh", tid))
    return len(tenants)


def license_refresh(tenant_id: int) -> str:
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None or not tenant.is_active:
        return "skipped"
    try:
        tenant = tenant_license_refresh(tenant=tenant)
    except ApiError as exc:
        # Transient or not, the next scheduled run asks again; the stored licence stays as it was.
        logger.warning("licence refresh for %s failed: %s", tenant.client_key, exc.message)
        return f"halted: {exc.message}"
    return tenant.license
