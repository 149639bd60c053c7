"""The built-in alert rules, enabled for every tenant (admins may disable or tune them)."""

from django.db import migrations

# Every day: a hospital or a bank's operations read records at weekends too; nights stand out.
DAY_HOURS = {"start": "06:00:00", "end": "22:00:00", "timezone": "UTC", "weekdays_only": False}

# The specs are written out (not built from the code's types) so this migration stays as it was.
RULES = [
    ("Password changed repeatedly", "high",
     "The same account's password changed three times within five minutes: a takeover, or a "
     "script resetting it.",
     {"kind": "threshold", "event_types": ["PasswordChanged"], "count": 3, "window_seconds": 300,
      "group_by": "aggregate"}),
    ("Burst of failed sign-ins", "high",
     "Ten failed sign-ins from one IP address within a minute: password guessing or credential stuffing.",
     {"kind": "threshold", "event_types": ["LoginFailed", "SignInFailed"], "count": 10, "window_seconds": 60,
      "group_by": "actor_ip"}),
    ("Bulk exports by one person", "medium",
     "Twenty downloads or exports by one person within an hour: data leaving in bulk.",
     {"kind": "threshold", "event_types": ["ReportDownloaded", "*Exported"], "count": 20, "window_seconds": 3600,
      "group_by": "actor"}),
    ("Restricted records read at night", "high",
     "A restricted record read between 22:00 and 06:00 UTC (one person's reads within eight hours are "
     "one alert). Tune the hours and time zone to the tenant's working day.",
     {"kind": "match", "event_types": ["*Viewed", "StateReplayed"], "min_classification": "restricted",
      "outside_hours": DAY_HOURS, "group_by": "actor", "window_seconds": 8 * 3600}),
    ("Break-glass access", "critical",
     "Someone used emergency (break-glass) access: each use is reviewed.",
     {"kind": "match", "event_types": ["BreakGlassActivated", "EmergencyAccessGranted"], "min_classification": None,
      "outside_hours": None, "group_by": "actor", "window_seconds": 60}),
    ("Tenant went quiet", "medium",
     "A tenant that sends events sent none for a day: a broken publisher, or logging switched off.",
     {"kind": "silence", "quiet_seconds": 86400, "group_by": "tenant"}),
]


def add_rules(apps, schema_editor):
    # On the database being migrated (tests migrate scratch databases beside the default).
    rules = apps.get_model("audit_events", "AlertRule").objects.using(schema_editor.connection.alias)
    for name, severity, description, spec in RULES:
        rules.get_or_create(name=name, defaults={"severity": severity, "description": description,
                                                 "spec": spec, "builtin": True, "enabled": True})


def remove_rules(apps, schema_editor):
    rules = apps.get_model("audit_events", "AlertRule").objects.using(schema_editor.connection.alias)
    rules.filter(builtin=True, name__in=[name for name, *_ in RULES], alerts__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("audit_events", "0015_alert_window_state")]
    operations = [migrations.RunPython(add_rules, remove_rules)]
