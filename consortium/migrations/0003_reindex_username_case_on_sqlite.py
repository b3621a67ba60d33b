"""Rebuild the index on lower(username) on SQLite with consortium.sqlite_unicode's lower(), which folds every
script (SQLite's own folded ASCII only); PostgreSQL's lower() already did."""

from django.db import migrations


def reindex_on_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("REINDEX user_username_unique_ignoring_case")


class Migration(migrations.Migration):
    dependencies = [("consortium", "0002_username_unique_ignoring_case")]

    operations = [migrations.RunPython(reindex_on_sqlite, migrations.RunPython.noop)]
