# One change-stream cursor per synchronized helpdesk object (Zoho Desk polls each module on its own); the
# Zendesk ticket export's cursor moves under "ticket". Runs record the helpdesk API credits they spent.

from django.db import migrations, models


def cursors_forward(apps, schema_editor):
    SyncState = apps.get_model("sync", "SyncState")
    for state in SyncState.objects.exclude(cursor=""):
        state.cursors = {"ticket": state.cursor}
        state.save(update_fields=["cursors"])


def cursors_backward(apps, schema_editor):
    SyncState = apps.get_model("sync", "SyncState")
    for state in SyncState.objects.all():
        state.cursor = (state.cursors or {}).get("ticket", "")
        state.save(update_fields=["cursor"])


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0005_push"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncrun",
            name="credits",
            field=models.PositiveIntegerField(
                default=0, help_text="Helpdesk API credits the run spent (Zoho Desk bills a daily credit budget)."
            ),
        ),
        migrations.AddField(
            model_name="syncstate",
            name="cursors",
            field=models.JSONField(
                blank=True, default=dict, help_text="Where each change stream stands: helpdesk object → cursor (opaque)."
            ),
        ),
        migrations.AddField(
            model_name="link",
            name="comments_read_at",
            field=models.DateTimeField(
                blank=True,
                null=True,
                help_text="When the record's comments were last read (helpdesks without a comment stream: oldest "
                "first).",
            ),
        ),
        migrations.RunPython(cursors_forward, cursors_backward),
        migrations.RemoveField(model_name="syncstate", name="cursor"),
    ]
