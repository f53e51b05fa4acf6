"""Settings of the fraud example: a Django + DRF app that audits its predictions with ml-audit.

Moving from django-ml-audit changed only this file (and the installed package):
- ``ML_AUDIT`` is new: where the ml-audit server is and the API key to use;
- ``ML_AUDIT_REDACTION`` is unchanged: the client applies it before anything leaves the process;
- ``"ml_audit"`` may stay in ``INSTALLED_APPS`` (it has no models or migrations any more), and
  ``path("api/ml-audit/", include("ml_audit.api.urls"))`` is gone from urls.py: the server has
  the read API and the UI.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "fraud-example-not-a-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "ml_audit",
    "accounts",
    "fraud",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "fraud_site.urls"
WSGI_APPLICATION = "fraud_site.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DATABASE", str(BASE_DIR / "db.sqlite3")),
    }
}

AUTH_USER_MODEL = "accounts.User"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

# --- ml-audit -------------------------------------------------------------------------------

# Where the ml-audit server is, and an API key with the ingest scope
# (`ml-audit keys create --scope ingest`). Both can also come from the environment variables
# ML_AUDIT_URL and ML_AUDIT_API_KEY. MODE is left to the defaults: direct service calls are
# sync, the @audited_prediction decorator is background.
ML_AUDIT = {
    "URL": os.environ.get("ML_AUDIT_URL", "http://127.0.0.1:8080"),
    "API_KEY": os.environ.get("ML_AUDIT_API_KEY", ""),
}

# Unchanged from django-ml-audit.
ML_AUDIT_REDACTION = {
    "ALLOWLIST": ["age", "income", "country"],
    "DENYLIST": ["national_id", "raw_email"],
    "MASK_VALUE": "[redacted]",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"ml_audit": {"handlers": ["console"], "level": "WARNING"}},
}
