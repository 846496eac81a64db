from django.db import models


class PhaseRule(models.TextChoices):
    ALL = "all", "All environments must succeed"
    MINIMUM = "minimum", "A minimum number must succeed"
    OPTIONAL = "optional", "Optional"
