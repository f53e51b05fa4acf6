"""URLs of the benchmark project: django-ml-audit's read API mounted as its README shows."""

from django.urls import include, path

urlpatterns = [
    path("api/ml-audit/", include("ml_audit.api.urls")),
]
