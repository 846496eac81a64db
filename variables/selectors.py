"""Reads of variables: a project's values in the order they resolve, and a release's."""

from __future__ import annotations

from processes.models import Project
from variables.models import LibraryVariableSet, ProjectLibrarySet, ReleaseSnapshot, Variable
from variables.resolution import Entry


def included_sets(project: Project) -> list[LibraryVariableSet]:
    inclusions = ProjectLibrarySet.objects.filter(project=project).select_related("library_set")
    return [inclusion.library_set for inclusion in inclusions]


def owned_by(**owner) -> list[Variable]:
    return list(Variable.objects.filter(**owner).prefetch_related("environments"))


def snapshot_items(project: Project) -> list[dict]:
    """What a release copies: the project's own values, then each included set's, in the
    order they resolve; sensitive values stay encrypted."""
    owners = [({"project": project}, "the project")]
    owners += [({"library_set": s}, f"library set {s.name}") for s in included_sets(project)]
    return [
        {
            "name": variable.name,
            "value": variable.value,
            "ciphertext": variable.ciphertext,
            "sensitive": variable.sensitive,
            "environments": sorted(e.slug for e in variable.environments.all()),
            "roles": sorted(variable.roles),
            "targets": sorted(variable.targets),
            "source": source,
        }
        for owner, source in owners
        for variable in owned_by(**owner)
    ]


def release_entries(release_id: int) -> list[Entry]:
    """The values a release deploys (none for a release made before variables existed)."""
    snapshot = ReleaseSnapshot.objects.filter(release_id=release_id).first()
    return snapshot.entries() if snapshot else []
