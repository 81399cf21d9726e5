"""Modules the panel app adds to the Connect descriptor."""

from django.urls import reverse

ADMIN_PAGE_KEY = "deskbridge-admin"


def modules() -> dict:
    admin_url = reverse("panel:admin-page")
    return {
        "modules": {
            "adminPages": [
                {
                    "key": ADMIN_PAGE_KEY,
                    "name": {"value": "Deskbridge"},
                    "url": admin_url,
                    "conditions": [{"condition": "user_is_admin"}],
                }
            ],
            "configurePage": {
                "key": f"{ADMIN_PAGE_KEY}-configure",
                "name": {"value": "Configure Deskbridge"},
                "url": admin_url,
            },
        },
        "scopes": [],
    }
