from django.contrib import admin

from .models import Tenant


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("base_url", "client_key", "state", "license", "is_development", "installed_at")
    list_filter = ("state", "license", "is_development", "product_type")
    search_fields = ("base_url", "display_url", "client_key", "cloud_id")
    # The shared secret is never shown or editable: it is excluded from every form.
    exclude = ("shared_secret",)
    readonly_fields = (
        "client_key",
        "app_key",
        "base_url",
        "display_url",
        "product_type",
        "description",
        "cloud_id",
        "oauth_client_id",
        "server_version",
        "plugins_version",
        "license_checked_at",
        "installed_at",
        "uninstalled_at",
        "updated_at",
    )

    def has_add_permission(self, request):
        # Tenants come from Jira's install callback only.
        return False

    def has_delete_permission(self, request, obj=None):
        # Uninstall is soft: rows are kept.
        return False
