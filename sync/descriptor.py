"""Modules the sync app adds to the Connect descriptor: the Jira webhooks the push engine listens to, and
the searchable issue property.

``jiraEntityProperties`` makes the issue property auto-create tags its issues with searchable by JQL (Jira
indexes only declared properties): ``issue.property[deskbridge.source].key = "<item>:<record>"`` finds
the issue a crashed or retried create may already have made.
https://developer.atlassian.com/cloud/jira/platform/modules/entity-property/
"""

SOURCE_PROPERTY = "deskbridge.source"


def modules() -> dict:
    from django.urls import reverse

    from .inbox import WEBHOOK_EVENTS

    # Connect webhooks: JWT-signed deliveries of the full event (excludeBody false) to one endpoint, which
    # stores them in the inbox. https://developer.atlassian.com/cloud/jira/platform/modules/webhook/
    url = reverse("sync:jira-webhook")
    return {
        "modules": {
            "webhooks": [{"event": event, "url": url, "excludeBody": False} for event in WEBHOOK_EVENTS],
            "jiraEntityProperties": [
                {
                    "key": "deskbridge-source-index",
                    "name": {"value": "Deskbridge source record"},
                    "entityType": "issue",
                    "keyConfigurations": [
                        {
                            "propertyKey": SOURCE_PROPERTY,
                            "extractions": [
                                {"objectName": "key", "type": "string", "alias": "deskbridgeSource"},
                                {"objectName": "record", "type": "string"},
                            ],
                        }
                    ],
                }
            ],
        },
        "scopes": [],
    }
