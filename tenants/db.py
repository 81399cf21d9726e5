"""Database-level tenant integrity (PostgreSQL).

A row that names another tenant-owned row (a link its item, an item its connection) must belong to the same
tenant. The services check it; the database enforces it too, with a composite foreign key
``(parent_id, tenant_id) → parent (id, tenant_id)`` (the parent declares ``UniqueConstraint(id, tenant)``).
SQLite cannot add a constraint to an existing table, so there the services' checks are the guard.
"""

from __future__ import annotations

from django.db import migrations


def same_tenant_foreign_key(table: str, columns: str, target: str, name: str) -> migrations.RunPython:
    """A migration operation adding ``FOREIGN KEY (columns) REFERENCES target (id, tenant_id)``. The
    arguments are identifiers written in migrations, never input."""

    def forwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({columns}) "
                f"REFERENCES {target} (id, tenant_id) DEFERRABLE INITIALLY DEFERRED"
            )

    def backwards(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")

    return migrations.RunPython(forwards, backwards)
