"""Modules the sync app adds to the Connect descriptor.

``jiraEntityProperties`` makes the issue property auto-create tags its issues with searchable by JQL (Jira
indexes only declared properties): ``issue.property[deskbridge.source].key = "<item>:<record>"`` finds
the issue a crashed or retried create may already have made.
https://developer.atlassian.com/cloud/jira/platform/modules/entity-property/
"""

SOURCE_PROPERTY = "deskbridge.source"


def modules() -> dict:
    return {
        "modules": {
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
            ]
        },
        "scopes": [],
    }
