from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Jira sites (tenants)"

    def ready(self):
        from . import schema  # noqa: F401  registers the OpenAPI descriptions of our auth classes
