"""The markup of a deployment chip, written in one place.

The dashboard has a cell per project and environment, thousands of them, and its live
region asks for it again every two seconds: a template include per cell would take most of
a second for 10,000 cells (bench/dashboard.py). So the chip is written here, in Python, and
every other page shows it through the ``{% deployment_chip %}`` tag built on the same
code. Its state badge is rendered by components/state_badge.html once per state, and every
text is escaped here.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from lifecycles.models import Environment
from processes.models import Project
from releases.choices import STATE_BADGES, DeploymentState, StepState
from releases.selectors import DashboardDeployment, Frozen
from relman.templatetags.relman_tags import iso, relative

DEPLOYMENT_STATE_LABELS = dict(DeploymentState.choices)
_STATE_LABELS = {**dict(StepState.choices), **dict(DeploymentState.choices)}


def state_badge(state: str, label: str = "", compact: bool = False) -> dict:
    """A state's icon and colour (releases.choices.STATE_BADGES) with its name.
    ``compact`` shows the icon alone, the name staying available to screen readers."""
    colour, icon = STATE_BADGES.get(state, ("grey", "?"))
    return {
        "state": state,
        "colour": colour,
        "icon": icon,
        "label": label or _STATE_LABELS.get(state, state.capitalize()),
        "compact": compact,
    }


def state_colour(state: str) -> str:
    """The state's colour name, for elements styled after its badge."""
    return STATE_BADGES.get(state, ("grey", ""))[0]


# Every value put in these is escaped or comes from this code (numbers, colours, times).
CHIP = (
    '<a class="chip chip--{colour}" href="{url}" title="{label}">{badge}'
    '<span class="chip__text"><span class="chip__version">{version}</span>'
    '<span class="chip__meta">{meta}</span>'
    "</span></a>"
)
AGO = '<time datetime="{stamp}" title="{stamp}">{ago}</time>'
# A scheduled deployment not started yet says when it will (in the site's time zone).
STARTS = '<time datetime="{stamp}" title="{stamp}">starts {when}</time>'
CHIP_CELL = '<td class="grid__cell{frozen}">{mark}{chip}</td>'
EMPTY_CELL = (
    '<td class="grid__cell{frozen}">{mark}'
    '<span class="muted" title="Not deployed to {environment} yet">—</span></td>'
)
# A cell a freeze applies to now: its sentence shows on hover and is read out.
FROZEN_MARK = '<span class="frozen-mark" role="img" title="{why}" aria-label="{why}">❄</span>'
NOT_IN_LIFECYCLE_CELL = '<td class="grid__cell grid__cell--na"><span class="visually-hidden">Not in {project}’s lifecycle</span></td>'


class Chips:
    """Writes deployment chips; one instance serves a page, so the state badges and the
    URL prefix are worked out once, not per chip."""

    def __init__(self) -> None:
        self.now = timezone.now()
        # Deployment.get_absolute_url without a reverse() per chip: '/deployments/'.
        self.url_prefix = reverse("releases:deployment_detail", args=[0]).removesuffix("0/")
        self.badges: dict[str, SafeString] = {}

    def badge(self, state: str) -> SafeString:
        if state not in self.badges:
            html = render_to_string("components/state_badge.html", state_badge(state, compact=True))
            self.badges[state] = mark_safe(html.strip())  # the template's own output
        return self.badges[state]

    def chip(
        self, *, pk: int, state: str, version: str, created_at: datetime, queue_at: datetime | None = None
    ) -> str:
        if state == DeploymentState.QUEUED and queue_at is not None and queue_at > self.now:
            local = timezone.localtime(queue_at)
            when = local.strftime(
                "%H:%M" if local.date() == timezone.localtime(self.now).date() else "%Y-%m-%d %H:%M"
            )
            meta = STARTS.format(stamp=iso(queue_at), when=when)
        else:
            meta = AGO.format(stamp=iso(created_at), ago=relative(created_at, self.now))
        return CHIP.format(
            colour=state_colour(state),
            url=f"{self.url_prefix}{pk}/",
            label=escape(DEPLOYMENT_STATE_LABELS.get(state, state)),
            badge=self.badge(state),
            version=escape(version),
            meta=meta,
        )


class DashboardCells(Chips):
    """Writes the dashboard's cells, a row at a time."""

    def __init__(self, reached: dict[int, set[int]], frozen: Frozen):
        super().__init__()
        self.reached = reached
        self.frozen = frozen

    def row(
        self, project: Project, environments: list[Environment], deployments: list[DashboardDeployment | None]
    ) -> SafeString:
        reached = self.reached[project.lifecycle_id]
        return mark_safe(
            "".join(
                self.cell(project, environment, deployment, environment.pk in reached)
                for environment, deployment in zip(environments, deployments, strict=True)
            )
        )

    def cell(
        self,
        project: Project,
        environment: Environment,
        deployment: DashboardDeployment | None,
        applies: bool,
    ) -> str:
        if deployment is None and not applies:
            return NOT_IN_LIFECYCLE_CELL.format(project=escape(str(project)))
        freezes = self.frozen.get(environment.pk, {})
        why = freezes.get(None) or freezes.get(project.pk)
        marks = (
            {"frozen": " grid__cell--frozen", "mark": FROZEN_MARK.format(why=escape(why))}
            if why
            else {"frozen": "", "mark": ""}
        )
        if deployment is None:
            return EMPTY_CELL.format(environment=escape(str(environment)), **marks)
        chip = self.chip(
            pk=deployment.pk,
            state=deployment.state,
            version=deployment.version,
            created_at=deployment.created_at,
            queue_at=deployment.queue_at,
        )
        return CHIP_CELL.format(chip=chip, **marks)
