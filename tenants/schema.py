"""How our authentication classes appear in the OpenAPI schema (imported by TenantsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TenantApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.auth.TenantApiTokenAuthentication"
    name = "tenantApiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A tenant API token (create one on the Deskbridge admin page in Jira). Also accepted as "
            "HTTP Basic with user `{email}/token` and the token as password, as Zendesk's own examples send it.",
        }


class JiraContextJwtScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.auth.JiraContextJWTAuthentication"
    name = "jiraJwt"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`JWT <token>`: a token from `AP.context.getToken()` in a Deskbridge iframe, or a "
            "request-bound Atlassian Connect JWT.",
        }


class JiraJwtScheme(JiraContextJwtScheme):
    target_class = "tenants.auth.JiraJWTAuthentication"
    name = "jiraRequestJwt"


class PageSessionScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.auth.PageSessionAuthentication"
    name = "pageSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Deskbridge-Session",
            "description": "The session a Deskbridge iframe was rendered with (when Connect's all.js is unavailable).",
        }
