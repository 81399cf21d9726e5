from django.db import migrations

from tenants.db import same_tenant_foreign_key


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0001_initial"),
        ("connector", "0003_tenant_integrity"),
    ]

    operations = [
        same_tenant_foreign_key("sync_link", "item_id, tenant_id", "connector_connecteditem", "link_item_same_tenant"),
    ]
