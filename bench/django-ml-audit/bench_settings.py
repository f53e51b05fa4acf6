"""The smallest Django project that runs django-ml-audit 0.2.0 the way its README installs it.

Settings are Django's defaults except what a project must set: the database, the installed apps
(`ml_audit` plus `rest_framework` for its read API, and `auth`/`contenttypes`, which DRF's
anonymous user needs), and DRF pagination (django-ml-audit's README promises a paginated list but
its viewset sets none, so a project has to; 50 a page, ml-audit's default `limit`). DEBUG is off,
so Django keeps no query log. SQLite runs with Django's defaults (rollback journal, no WAL,
synchronous=FULL), as a project that does not tune it would.
"""

from __future__ import annotations

import os

import django
from django.conf import settings

# Trust auth on the machine's cluster; the same PG* variables psql reads override it.
PG_DEFAULTS = {
    "HOST": os.environ.get("PGHOST", "127.0.0.1"),
    "PORT": os.environ.get("PGPORT", "5432"),
    "USER": os.environ.get("PGUSER", "postgres"),
    "PASSWORD": os.environ.get("PGPASSWORD", ""),
}


def configure(backend: str, *, sqlite_path: str | None = None, pg_name: str | None = None,
              pg: dict | None = None) -> None:
    if backend == "sqlite":
        if not sqlite_path:
            raise ValueError("sqlite needs a file path")
        database = {"ENGINE": "django.db.backends.sqlite3", "NAME": sqlite_path}
    elif backend == "postgres":
        if not pg_name:
            raise ValueError("postgres needs a database name")
        database = {"ENGINE": "django.db.backends.postgresql", "NAME": pg_name,
                    **PG_DEFAULTS, **(pg or {})}
    else:
        raise ValueError(f"unknown backend {backend!r}")

    settings.configure(
        DEBUG=False,
        SECRET_KEY="django-ml-audit-bench-not-secret",
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
        TIME_ZONE="UTC",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "rest_framework",
            "ml_audit",
        ],
        MIDDLEWARE=[],
        ROOT_URLCONF="bench_urls",
        DATABASES={"default": database},
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        REST_FRAMEWORK={
            "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
            "PAGE_SIZE": 50,
        },
        # django-ml-audit's own default redaction (its built-in sensitive names), no overrides.
    )
    django.setup()
