from django.apps import AppConfig


class AuditEventsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "audit_events"
    verbose_name = "Audit events"
