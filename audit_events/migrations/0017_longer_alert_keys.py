from django.db import migrations, models


class Migration(migrations.Migration):
    """An aggregate's key (``aggregate:`` + tenant, type and id) can be 340 characters long."""

    dependencies = [("audit_events", "0016_builtin_alert_rules")]

    operations = [
        migrations.AlterField(model_name="alert", name="group_key", field=models.CharField(max_length=400)),
        migrations.AlterField(model_name="alertwindowstate", name="group_key", field=models.CharField(max_length=400)),
    ]
