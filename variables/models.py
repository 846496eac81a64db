from django.db import models

from relman import crypto
from variables.resolution import Entry


class LibraryVariableSet(models.Model):
    """Variables shared by the projects that include the set."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Variable(models.Model):
    """One value of a name, with its scope; it belongs to a project or to a library set.

    A sensitive value is only ever stored encrypted, in ``ciphertext``; ``value`` is then
    empty.
    """

    project = models.ForeignKey(
        "processes.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="variables"
    )
    library_set = models.ForeignKey(
        LibraryVariableSet, null=True, blank=True, on_delete=models.CASCADE, related_name="variables"
    )
    name = models.CharField(max_length=200)
    value = models.TextField(blank=True)
    ciphertext = models.TextField(blank=True)
    sensitive = models.BooleanField(default=False)
    # A value scoped to an environment must not silently apply everywhere once the
    # environment is gone: deleting one that a value names is refused.
    environments = models.ManyToManyField(
        "lifecycles.Environment", through="VariableEnvironment", blank=True, related_name="+"
    )
    roles = models.JSONField(default=list, blank=True)
    # Target slugs.
    targets = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(project__isnull=True) ^ models.Q(library_set__isnull=True),
                name="variable_has_one_owner",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def plain_value(self) -> str:
        return crypto.decrypt(self.ciphertext) if self.sensitive else self.value

    def entry(self, *, source: str = "", plain: bool = True) -> Entry:
        """The rules' view of this value (environments by slug; prefetch them)."""
        return Entry(
            name=self.name,
            value=self.plain_value() if plain else "",
            sensitive=self.sensitive,
            environments=frozenset(e.slug for e in self.environments.all()),
            roles=frozenset(self.roles),
            targets=frozenset(self.targets),
            source=source,
        )


class VariableEnvironment(models.Model):
    variable = models.ForeignKey(Variable, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey("lifecycles.Environment", on_delete=models.PROTECT, related_name="+")

    class Meta:
        unique_together = [("variable", "environment")]

    def __str__(self) -> str:
        variable = self.variable
        return f"{variable.name} of {variable.project or variable.library_set}"


class ProjectLibrarySet(models.Model):
    """A library set a project includes. Deleting a set that projects include is refused
    (naming them), as their releases would silently lose its values."""

    project = models.ForeignKey("processes.Project", on_delete=models.CASCADE, related_name="+")
    library_set = models.ForeignKey(LibraryVariableSet, on_delete=models.PROTECT, related_name="inclusions")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "library_set"], name="library_set_included_once"),
        ]

    def __str__(self) -> str:
        return f"{self.library_set} in {self.project}"


class ReleaseSnapshot(models.Model):
    """The variables a release deploys, copied when it was created (the project's and its
    library sets', in the order they resolve): editing variables changes future releases
    only. Each entry is a dict of the ``Entry`` fields, a sensitive value kept only as
    ``ciphertext``."""

    release = models.OneToOneField("releases.Release", on_delete=models.CASCADE, related_name="+")
    variables = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"variables of release {self.release_id}"

    def entries(self) -> list[Entry]:
        return [
            Entry(
                name=item["name"],
                value=crypto.decrypt(item["ciphertext"]) if item["sensitive"] else item["value"],
                sensitive=item["sensitive"],
                environments=frozenset(item["environments"]),
                roles=frozenset(item["roles"]),
                targets=frozenset(item["targets"]),
                source=item["source"],
            )
            for item in self.variables
        ]
