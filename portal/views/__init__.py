"""The portal's audit views, served by ``PortalAdminSite`` through ``admin_view()``."""
