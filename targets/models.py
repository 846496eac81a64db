from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from targets.choices import TargetStatus
from teams.choices import Role
from teams.scoping import grants_for


class TargetQuerySet(models.QuerySet):
    def visible_to(self, user) -> TargetQuerySet:
        """Targets in an environment the user's viewer grants cover (all for superusers
        and for a grant that names no environment)."""
        if user.is_authenticated and user.is_active and user.is_superuser:
            return self
        environment_ids: set[int] = set()
        for grant in grants_for(user):
            if not grant.allows(Role.VIEWER):
                continue
            if not grant.environment_ids:
                return self
            environment_ids |= grant.environment_ids
        return self.filter(pk__in=Target.objects.filter(environments__in=environment_ids).values("pk"))


class Target(models.Model):
    """A machine a script step can run on, through the relman-agent running there."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    environments = models.ManyToManyField(
        "lifecycles.Environment", through="TargetEnvironment", related_name="+"
    )
    roles = models.JSONField(default=list, blank=True, help_text="Tags such as db or web.")
    enabled = models.BooleanField(default=True)
    # The agent token: the prefix finds the row, only a SHA-256 hash of the secret is kept.
    token_prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    # What the agent said about itself; every agent request counts as being seen.
    last_seen = models.DateTimeField(null=True, blank=True)
    agent_version = models.CharField(max_length=50, blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TargetQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    # An agent's requests are made as its target (targets.authentication), so whatever
    # reads a request's user (request logs) finds one.
    is_authenticated = True

    def __str__(self) -> str:
        return self.name

    def get_username(self) -> str:
        return f"target:{self.slug}"

    @property
    def status(self) -> str:
        """Online when the agent was seen within RELMAN_AGENT_OFFLINE_AFTER_SECONDS."""
        window = timedelta(seconds=settings.RELMAN_AGENT_OFFLINE_AFTER_SECONDS)
        if self.last_seen and timezone.now() - self.last_seen <= window:
            return TargetStatus.ONLINE
        return TargetStatus.OFFLINE


class TargetEnvironment(models.Model):
    """An environment a target serves; the environment cannot be deleted while one does."""

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey("lifecycles.Environment", on_delete=models.PROTECT, related_name="+")

    class Meta:
        unique_together = [("target", "environment")]

    def __str__(self) -> str:
        return f"target {self.target.name}"
