"""URL configuration."""

from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve
from django.urls import path, re_path
from django.utils.cache import patch_cache_control
from django.views.generic import RedirectView

from . import health
from .api import api

operations = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
]
if settings.PORTAL_API_ONLY:  # the ingest stage: publishers' API, nothing else
    urlpatterns = [path("api/v1/", api.urls), *operations]
else:
    urlpatterns = [
        path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
        path("admin/", admin.site.urls),
        path("api/v1/", api.urls),
        *operations,
    ]


def static_file(request, path):
    """An app's static file (``insecure``: served although DEBUG is off; the finders read
    only the installed apps' ``static`` folders)."""
    response = serve(request, path, insecure=True)
    patch_cache_control(response, public=True, max_age=3600)
    return response


if settings.PORTAL_SERVE_STATIC:
    urlpatterns.append(re_path(r"^static/(?P<path>.*)$", static_file))
