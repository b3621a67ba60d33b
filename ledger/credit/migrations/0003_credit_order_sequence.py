"""PostgreSQL: the sequence credit orders are drawn from (SQLite keeps the CreditClock counter)."""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE SEQUENCE IF NOT EXISTS credit_order_seq MINVALUE 0 START WITH 0")
        # carry on after the orders the clock has handed out so far
        schema_editor.execute(
            "SELECT setval('credit_order_seq', next_order, false) FROM credit_creditclock WHERE id = 1"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP SEQUENCE IF EXISTS credit_order_seq")


class Migration(migrations.Migration):
    dependencies = [("credit", "0002_append_only_triggers")]
    operations = [migrations.RunPython(create, drop)]
