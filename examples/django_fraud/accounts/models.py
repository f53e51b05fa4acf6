"""A B2B user: each belongs to a tenant, which the audit trail records with every prediction
(``audited_prediction`` reads ``request.user.tenant_id``)."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    tenant_id = models.CharField(max_length=64, blank=True, default="")
