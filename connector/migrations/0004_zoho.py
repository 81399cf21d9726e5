# Zoho Desk: the status value → Jira category table of an item.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('connector', '0003_tenant_integrity'),
    ]

    operations = [
        migrations.AddField(
            model_name='connecteditem',
            name='status_map',
            field=models.JSONField(blank=True, default=dict, help_text="Zoho Desk: status value → Jira status category (new, indeterminate, done); the first value of a category is what Jira's moves into it write."),
        ),
    ]
