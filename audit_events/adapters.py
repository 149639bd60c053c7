"""Choosing an adapter by one setting, the same way for every port."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

__all__ = ["adapter_from_setting"]


def adapter_from_setting(setting: str, adapters: dict[str, str]):
    """An instance of the adapter that ``settings.<setting>`` names; a bad name stops start-up."""
    name = getattr(settings, setting)
    if name not in adapters:
        raise ImproperlyConfigured(
            f"{setting}={name!r} is not known; use one of: " + ", ".join(sorted(adapters))
        )
    return import_string(adapters[name])()
