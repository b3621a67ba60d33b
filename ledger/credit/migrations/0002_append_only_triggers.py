"""Triggers that make the transfer table append-only (the same function and rules as the ledger's tables)."""

import importlib

from django.db import migrations

TABLES = ("credit_credittransfer",)
_ledger_triggers = importlib.import_module("ledger.migrations.0002_append_only_triggers")


def install(apps, schema_editor):
    _ledger_triggers.install_for(schema_editor, TABLES)


def uninstall(apps, schema_editor):
    _ledger_triggers.uninstall_for(schema_editor, TABLES, drop_function=False)


def create_clock(apps, schema_editor):
    apps.get_model("credit", "CreditClock").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [
        ("credit", "0001_initial"),
        ("ledger", "0002_append_only_triggers"),
    ]

    operations = [
        migrations.RunPython(install, uninstall),
        migrations.RunPython(create_clock, migrations.RunPython.noop),
    ]
