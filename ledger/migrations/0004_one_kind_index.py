"""One index on the entry kind instead of two.

`db_index=True` on a CharField gives PostgreSQL two indexes: a plain one and a `varchar_pattern_ops` one for
LIKE. The pattern one also answers `kind =` and `kind IN` (same plans and times on 10^6 entries), and every
append writes each index, so the plain one goes. On PostgreSQL the pattern index is kept and renamed (no
rebuild of a large table's index); on SQLite, which made one plain index, it is replaced.
"""

from django.db import migrations, models

TABLE = "ledger_ledgerentry"


def _old_name(schema_editor, suffix=""):
    return schema_editor._create_index_name(TABLE, ["kind"], suffix=suffix)


def forwards(apps, schema_editor):
    plain = schema_editor.quote_name(_old_name(schema_editor))
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {plain}")
        pattern = schema_editor.quote_name(_old_name(schema_editor, "_like"))
        schema_editor.execute(f"ALTER INDEX {pattern} RENAME TO ledger_entry_kind")
    else:
        schema_editor.execute(f"DROP INDEX IF EXISTS {plain}")
        schema_editor.execute(f"CREATE INDEX ledger_entry_kind ON {TABLE} (kind)")


def backwards(apps, schema_editor):
    plain = schema_editor.quote_name(_old_name(schema_editor))
    schema_editor.execute(f"CREATE INDEX {plain} ON {TABLE} (kind)")
    if schema_editor.connection.vendor == "postgresql":
        pattern = schema_editor.quote_name(_old_name(schema_editor, "_like"))
        schema_editor.execute(f"ALTER INDEX ledger_entry_kind RENAME TO {pattern}")
    else:
        schema_editor.execute("DROP INDEX ledger_entry_kind")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_entry_txid")]
    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
            state_operations=[
                migrations.AlterField(
                    model_name="ledgerentry", name="kind", field=models.CharField(max_length=64)
                ),
                migrations.AddIndex(
                    model_name="ledgerentry",
                    index=models.Index(
                        fields=["kind"], name="ledger_entry_kind", opclasses=["varchar_pattern_ops"]
                    ),
                ),
            ],
        )
    ]
