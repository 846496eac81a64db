from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from teams.choices import Role


class User(AbstractUser):
    display_name = models.CharField(max_length=150, blank=True)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def label(self) -> str:
        return str(self)


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def team_names(teams) -> str:
    """'DBA Team', or 'DBA Team, Ops Team or Test Team'."""
    names = [t.name for t in teams]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " or " + names[-1]


class RoleGrant(models.Model):
    """A role a team holds, optionally scoped.

    Project groups and projects combine as a union (both empty: every project);
    environments restrict further (empty: every environment).
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=32, choices=Role.choices)
    project_groups = models.ManyToManyField(
        "processes.ProjectGroup", through="RoleGrantProjectGroup", blank=True, related_name="role_grants"
    )
    projects = models.ManyToManyField(
        "processes.Project", through="RoleGrantProject", blank=True, related_name="role_grants"
    )
    environments = models.ManyToManyField(
        "lifecycles.Environment", through="RoleGrantEnvironment", blank=True, related_name="role_grants"
    )

    class Meta:
        ordering = ["team__name", "role", "id"]
        indexes = [models.Index(fields=["team", "role"])]

    def __str__(self) -> str:
        return f"{self.team}: {self.get_role_display()}"


class RoleGrantScope(models.Model):
    """One project group, project or environment a grant is scoped to. It protects its
    target: deleting it would silently drop it from the grant, and a grant scoped to it
    alone would then cover everything. Kept in the table Django made for the plain
    many-to-many field (its column names, hence ``db_column``; its unique pair, hence
    ``unique_together``)."""

    role_grant = models.ForeignKey(
        RoleGrant, on_delete=models.CASCADE, db_column="rolegrant_id", related_name="+"
    )

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"a role grant of {self.role_grant.team}"


class RoleGrantProjectGroup(RoleGrantScope):
    project_group = models.ForeignKey(
        "processes.ProjectGroup", on_delete=models.PROTECT, db_column="projectgroup_id", related_name="+"
    )

    class Meta:
        db_table = "teams_rolegrant_project_groups"
        unique_together = [("role_grant", "project_group")]


class RoleGrantProject(RoleGrantScope):
    project = models.ForeignKey("processes.Project", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "teams_rolegrant_projects"
        unique_together = [("role_grant", "project")]


class RoleGrantEnvironment(RoleGrantScope):
    environment = models.ForeignKey("lifecycles.Environment", on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "teams_rolegrant_environments"
        unique_together = [("role_grant", "environment")]


class ApiKey(models.Model):
    """A bearer key for the API. Only a SHA-256 hash of the secret is stored; the
    non-secret prefix finds the row."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    purpose = models.CharField(max_length=200, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    hashed_secret = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AppendOnlyViolation(Exception):
    """Something tried to change or delete a recorded audit event."""


# The only fields ever written on a recorded event: the sealer sets them, once, on an event
# that has none (teams.audit.audit_seal). The PostgreSQL trigger enforces the same rule.
AUDIT_SEAL_FIELDS = frozenset({"sequence", "previous_hash", "hash"})


class AuditEventQuerySet(models.QuerySet):
    """Refuses deletes, and any update but sealing an unsealed event."""

    def update(self, **kwargs):
        if not kwargs.keys() <= AUDIT_SEAL_FIELDS:
            raise AppendOnlyViolation("Audit events are append-only: only the sealer may chain them.")
        # Conditional: an event already sealed keeps its seal.
        return super(AuditEventQuerySet, self.filter(hash="")).update(**kwargs)

    update.alters_data = True

    def delete(self):
        raise AppendOnlyViolation("Audit events are append-only: they cannot be deleted.")

    delete.alters_data = True
    delete.queryset_only = True


class AuditEvent(models.Model):
    """One thing that happened, append-only.

    Events are recorded unchained, in the transaction of the change they describe; the
    sealer (teams.audit) then gives each the next ``sequence`` and chains it to the one
    before by ``previous_hash`` and ``hash``. Project and environment are kept by id and
    by name, without a database constraint, so deleting configuration never touches the
    trail and the trail reads the same after.
    """

    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64)
    project = models.ForeignKey(
        "processes.Project",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    project_label = models.CharField(max_length=200, blank=True)
    environment = models.ForeignKey(
        "lifecycles.Environment",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    environment_label = models.CharField(max_length=200, blank=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    sequence = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    previous_hash = models.CharField(max_length=64, blank=True, editable=False)
    hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            # the history of one object: a release's evidence report
            models.Index(fields=["subject_type", "subject_id"], name="auditevent_subject"),
            # the sealer's scan for events not chained yet, in id order
            models.Index(
                fields=["id"], condition=models.Q(sequence__isnull=True), name="auditevent_unsealed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AppendOnlyViolation("Audit events are append-only: a recorded event cannot be changed.")
        if self.sequence is not None or self.previous_hash or self.hash:
            raise AppendOnlyViolation("An event is recorded unchained; only the sealer chains it.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyViolation("Audit events are append-only: they cannot be deleted.")

    @property
    def is_sealed(self) -> bool:
        return bool(self.hash)


class AuditChainHead(models.Model):
    """The end of the audit chain: the last sequence sealed and its hash. One row, which
    the sealer locks while it chains (sealers take turns; writers never wait on it) and
    which ``verify_audit`` compares with the last event, so cutting events off the end of
    the chain shows."""

    SINGLETON_ID = 1

    sequence = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True)
    sealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "audit chain head"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_chain_head_singleton")]

    def __str__(self) -> str:
        return f"Audit chain at sequence {self.sequence}"
