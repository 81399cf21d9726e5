"""Sealed tenant scoping for DRF views (after PostHog's TeamAndOrgViewSetMixin).

Views supply their rows through ``get_base_queryset()``; the mixin applies ``tenant=request.tenant``
afterwards in ``get_queryset()``, which subclasses may not override — so no view can forget the filter.
Missing and "belongs to another tenant" are the same 404.
"""

from __future__ import annotations

from django.db.models import QuerySet

from .auth import JiraContextJWTAuthentication, TenantLicensed


class TenantScopedMixin:
    tenant_field = "tenant"
    authentication_classes = [JiraContextJWTAuthentication]
    permission_classes = [TenantLicensed]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset(); override get_base_queryset() instead so the "
                "tenant filter is always applied."
            )

    def get_base_queryset(self) -> QuerySet:
        return self.queryset.all()

    def get_queryset(self) -> QuerySet:
        tenant = getattr(self.request, "tenant", None)
        queryset = self.get_base_queryset()
        if tenant is None:
            return queryset.none()
        return queryset.filter(**{self.tenant_field: tenant})
