"""On PostgreSQL: each entry records its inserting transaction's id, so the sequencer needs no queue."""

from django.db import migrations


def add_txid(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite has one writer: entry ids commit in order
    schema_editor.execute(
        "ALTER TABLE ledger_ledgerentry "
        "ADD COLUMN txid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)"
    )
    schema_editor.execute("CREATE INDEX ledger_entry_txid ON ledger_ledgerentry (txid, id)")


def drop_txid(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE ledger_ledgerentry DROP COLUMN txid")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_append_only_triggers")]
    operations = [migrations.RunPython(add_txid, drop_txid, elidable=False)]
