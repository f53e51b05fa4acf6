"""Lets ``"ml_audit"`` stay in ``INSTALLED_APPS`` after moving from django-ml-audit.

The app has no models and no migrations (the data lives in the ml-audit server); leaving it in
``INSTALLED_APPS`` is harmless, and removing it is fine too.
"""

from __future__ import annotations

from django.apps import AppConfig


class MlAuditConfig(AppConfig):
    name = "ml_audit"
    label = "ml_audit"
    verbose_name = "ML audit (ml-audit server client)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .client import _hook_django

        _hook_django()
