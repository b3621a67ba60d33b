"""Triggers that make the use table append-only too: statements print each use's point chain from it."""

import importlib

from django.db import migrations

TABLES = ("credit_credituse",)
_ledger_triggers = importlib.import_module("ledger.migrations.0002_append_only_triggers")


def install(apps, schema_editor):
    _ledger_triggers.install_for(schema_editor, TABLES)


def uninstall(apps, schema_editor):
    _ledger_triggers.uninstall_for(schema_editor, TABLES, drop_function=False)


class Migration(migrations.Migration):
    dependencies = [("credit", "0004_affiliation_claim")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
