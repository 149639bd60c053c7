"""Make the events table append-only in the database itself."""

from django.db import migrations

from audit_events import triggers


def install(apps, schema_editor):
    triggers.install(schema_editor.connection)


def remove(apps, schema_editor):
    triggers.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit_events", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
