"""Framework integrations (``ml_audit.integrations.drf`` for Django REST framework)."""
