"""The portal's app configs: the admin site it installs, and the portal app itself."""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """``django.contrib.admin`` with the portal's site as the default ``admin.site``."""

    default_site = "portal.admin_site.PortalAdminSite"


class PortalConfig(AppConfig):
    """Templates, static files and template tags of the portal's audit views."""

    name = "portal"
    verbose_name = "Compliance portal"
