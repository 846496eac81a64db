from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    RELEASE_CREATOR = "release_creator", "Release creator"
    DEPLOYER = "deployer", "Deployer"
    PROJECT_EDITOR = "project_editor", "Project editor"
    # Reads the audit trail and the evidence reports of releases in scope; changes nothing.
    AUDITOR = "auditor", "Auditor"


# Every role includes viewing; none of the others includes another.
ROLE_IMPLIES: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({Role.VIEWER}),
    Role.RELEASE_CREATOR: frozenset({Role.VIEWER, Role.RELEASE_CREATOR}),
    Role.DEPLOYER: frozenset({Role.VIEWER, Role.DEPLOYER}),
    Role.PROJECT_EDITOR: frozenset({Role.VIEWER, Role.PROJECT_EDITOR}),
    Role.AUDITOR: frozenset({Role.VIEWER, Role.AUDITOR}),
}
