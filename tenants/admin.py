from django.contrib import admin

from .models import ApiToken, Tenant


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


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "tenant__base_url")
    # Only the hash is stored, and even that is not shown.
    exclude = ("token_hash",)
    readonly_fields = ("tenant", "prefix", "created_by", "created_at", "last_used_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # tokens are created by tenant admins (admin page or API) and shown to them once

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        from django.utils import timezone

        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).")
