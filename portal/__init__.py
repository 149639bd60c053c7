"""The Django project: settings, URLs, the admin site and the API."""
