from django.apps import AppConfig


class AccessConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "portal.access"
    label = "access"
    verbose_name = "Access control"

    def ready(self):
        from . import lookups  # noqa: F401  (registers the exactprefix lookup)
        from . import signin  # noqa: F401
