"""The sequencer's bookmark becomes a scan position plus the transactions still open behind it.

Before, the bookmark could not pass the oldest transaction open anywhere on the server, and every scan read
again every entry appended since that transaction began. Now the scan moves past it and watches it (and any
other open transaction below the position) by id, and remembers how far it took a watched transaction that
committed more entries than a batch holds. The old bookmark is a valid position: every entry of a
transaction below it is sequenced.
"""

from django.db import migrations, models


def add_watch(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite has one writer: the sequencer follows entry ids and keeps no bookmark
    schema_editor.execute(
        "ALTER TABLE ledger_sequencerstate ADD COLUMN watch bigint[] NOT NULL DEFAULT '{}', "
        "ADD COLUMN watch_taken_txid bigint NOT NULL DEFAULT 0, "
        "ADD COLUMN watch_taken_id bigint NOT NULL DEFAULT 0"
    )


def drop_watch(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE ledger_sequencerstate "
            "DROP COLUMN watch, DROP COLUMN watch_taken_txid, DROP COLUMN watch_taken_id"
        )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0005_leaf_reference_trigger")]
    operations = [
        migrations.RenameField("sequencerstate", "settled_txid", "scan_txid"),
        migrations.AddField("sequencerstate", "scan_id", models.BigIntegerField(default=0)),
        migrations.RunPython(add_watch, drop_watch, elidable=False),
    ]
