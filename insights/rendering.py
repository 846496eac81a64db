"""The Insights charts' geometry, computed here and drawn as SVG by the templates
(templates/insights/partials/): no script, no style attribute, so the strict
Content-Security-Policy holds. Each chart is a ``Chart`` of labelled marks whose
coordinates fit its ``viewBox``; a table of the same figures follows it on the page.

The viewBox is narrow (360 units) so that its text stays readable when a phone's screen
scales it down; CSS widens it to the card on larger screens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from insights.selectors import EnvironmentFigures, StepFigures, format_duration

WIDTH = 360
ROW = 34  # a horizontal bar's height with its label above it
COLUMN_CHART_HEIGHT = 150
AXIS = 20  # room under the columns for the first and last week's labels


@dataclass(frozen=True)
class Mark:
    label: str
    text: str
    x: float
    y: float
    width: float
    height: float
    level: int = 0

    @property
    def label_y(self) -> float:
        """A horizontal bar's label sits just above it."""
        return self.y - 4

    @property
    def value_x(self) -> float:
        """A horizontal bar's figure follows its end."""
        return self.x + self.width + 4

    @property
    def value_y(self) -> float:
        return self.y + self.height - 1


@dataclass(frozen=True)
class Chart:
    title: str
    height: int
    marks: list[Mark]
    # A column chart's axis labels: (x, y, text, text-anchor).
    ticks: list[tuple[float, float, str, str]] = field(default_factory=list)
    # A line chart's points.
    points: list[tuple[float, float]] = field(default_factory=list)

    @property
    def width(self) -> int:
        return WIDTH

    @property
    def polyline(self) -> str:
        """The points as <polyline points> takes them: "x,y x,y …"."""
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)


def _scaled(value: float, largest: float, length: float) -> float:
    return round(value / largest * length, 1) if largest else 0.0


def human_time_chart(steps: list[StepFigures]) -> Chart:
    """Horizontal bars: human time per step, longest first, steps without any left out."""
    measured = sorted((s for s in steps if s.human_seconds), key=lambda s: -s.human_seconds)
    largest = max((s.human_seconds for s in measured), default=0)
    marks = [
        Mark(
            label=s.name,
            text=format_duration(s.human_seconds),
            x=0,
            y=index * ROW + 16,
            width=max(_scaled(s.human_seconds, largest, WIDTH - 70), 2),
            height=12,
            level=s.automation_level,
        )
        for index, s in enumerate(measured)
    ]
    return Chart(title="Human time per step", height=max(len(marks), 1) * ROW, marks=marks)


def ladder_chart(steps: list[StepFigures]) -> Chart:
    """The automation ladder: one rung per level, as wide as its share of the steps."""
    counts = {level: sum(1 for s in steps if s.automation_level == level) for level in (1, 2, 3)}
    names = {1: "Manual", 2: "Manual with a helper script", 3: "Script"}
    marks = [
        Mark(
            label=f"Level {level}: {names[level]}",
            text=f"{count} step{'' if count == 1 else 's'}",
            x=(level - 1) * 40,
            y=(3 - level) * ROW + 16,
            width=max(_scaled(count, len(steps), WIDTH - 120 - (level - 1) * 40), 2),
            height=12,
            level=level,
        )
        for level, count in counts.items()
    ]
    return Chart(title="The automation ladder", height=3 * ROW, marks=marks)


def _columns(title: str, values: list[tuple[str, float, str]], first: str, last: str) -> Chart:
    """Columns over the weeks, the tallest labelled with its figure (the chart's scale)."""
    largest = max((v for _, v, _ in values), default=0)
    top = next((text for _, v, text in values if v == largest and largest), "")
    slot = WIDTH / max(len(values), 1)
    plot = COLUMN_CHART_HEIGHT - AXIS
    marks = []
    for index, (label, value, text) in enumerate(values):
        height = _scaled(value, largest, plot - 14)
        marks.append(
            Mark(
                label=label,
                text=text,
                x=round(index * slot + 2, 1),
                y=plot - height,
                width=slot - 4,
                height=height,
            )
        )
    return Chart(
        title=title,
        height=COLUMN_CHART_HEIGHT,
        marks=marks,
        ticks=[
            (0, COLUMN_CHART_HEIGHT - 4, first, "start"),
            (WIDTH, COLUMN_CHART_HEIGHT - 4, last, "end"),
            (0, 10, f"highest: {top}" if top else "", "start"),
        ],
    )


def frequency_chart(figures: EnvironmentFigures) -> Chart:
    """Columns: the environment's deployments in each week of the window."""
    weeks = figures.weeks
    return _columns(
        f"Deployments per week to {figures.environment}",
        [(f"Week of {w.start:%d %b}", w.deployments, str(w.deployments)) for w in weeks],
        f"{weeks[0].start:%d %b}" if weeks else "",
        f"{weeks[-1].start:%d %b}" if weeks else "",
    )


def lead_time_chart(figures: EnvironmentFigures) -> Chart:
    """A line through each week's median lead time; weeks without a success have no point."""
    weeks = figures.weeks
    chart = _columns(
        f"Lead time to {figures.environment}, median per week",
        [
            (
                f"Week of {w.start:%d %b}",
                w.lead_time_median_seconds or 0,
                format_duration(w.lead_time_median_seconds)
                if w.lead_time_median_seconds is not None
                else "—",
            )
            for w in weeks
        ],
        f"{weeks[0].start:%d %b}" if weeks else "",
        f"{weeks[-1].start:%d %b}" if weeks else "",
    )
    points = [
        (m.x + m.width / 2, m.y)
        for m, w in zip(chart.marks, weeks, strict=True)
        if w.lead_time_median_seconds is not None
    ]
    return Chart(title=chart.title, height=chart.height, marks=chart.marks, ticks=chart.ticks, points=points)
