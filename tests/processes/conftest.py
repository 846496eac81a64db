"""Process fixtures: two project editors, one on every project and one on GoodHealth
only (on top of the personas of tests/conftest.py).

- edith: project editor on every project (team Editors)
- gus: project editor on the GoodHealth project only (team GoodHealth Editors)
"""

import pytest

from teams.choices import Role
from teams.models import RoleGrant, Team, User


def _editor(username: str, display_name: str, team_name: str) -> tuple[User, RoleGrant]:
    user = User.objects.create_user(username, display_name=display_name)
    team = Team.objects.create(name=team_name)
    team.members.add(user)
    return user, RoleGrant.objects.create(team=team, role=Role.PROJECT_EDITOR)


@pytest.fixture
def edith(db):
    return _editor("edith", "Edith", "Editors")[0]


@pytest.fixture
def gus(goodhealth):
    user, grant = _editor("gus", "Gus", "GoodHealth Editors")
    grant.projects.add(goodhealth.project)
    return user
