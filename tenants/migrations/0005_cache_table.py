"""The shared cache's table (CACHE_URL=dbcache://…, the default) is created by ``migrate`` itself, so no
deployment step can forget it: without it every Jira install and every cached check answers 500."""

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps, schema_editor):
    # createcachetable creates the table of every DatabaseCache in CACHES, and skips existing ones.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("tenants", "0004_drop_unused_fields")]

    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop)]
