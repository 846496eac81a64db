"""Reading a pasted checklist (SPEC §11): pure functions from Markdown text to the titles
and team names of its steps, nothing looked up. Matching the names to teams and making
the process is the service's (processes.services.checklist_read).

Understood: a Markdown table with a title column and a who/team column (the seed's
``| Step | Title | Who |``), a numbered list (``1. Backup the database (DBA)``) and a
bulleted list (``- Backup the database (DBA)``), where the team is in parentheses at the
end of the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_STEPS = 200
# A step name's limit (processes.models.StepFields.name).
MAX_TITLE_LENGTH = 200
FORMATS = (
    "a Markdown table with a title column and a who column (| Step | Title | Who |), "
    "a numbered list (1. Backup the database (DBA)) or a bulleted list (- Backup the database (DBA))"
)

TITLE_HEADERS = ("title", "name", "step name", "task", "description", "what")
WHO_HEADERS = ("who", "team", "owner", "responsible", "assignee", "by")
# "1.", "1)", "-", "*", "+", each perhaps followed by a task-list box "[ ]" or "[x]".
LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*+])\s+(?:\[[ xX]?\]\s+)?(?P<text>.+)$")
TRAILING_TEAM = re.compile(r"^(?P<title>.*?)\s*\((?P<team>[^()]+)\)\s*$")
# A table's line under its header: "|---|:--:|", "---|---".
TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


class ChecklistError(ValueError):
    """The text cannot be read as a checklist; the message says why."""


@dataclass(frozen=True)
class ChecklistItem:
    title: str
    team: str = ""


def parse_checklist(text: str) -> list[ChecklistItem]:
    """The checklist's steps in order, titles made unique by a number ("Deploy (2)").

    Refuses (ChecklistError): nothing recognisable, naming the formats understood; more
    than MAX_STEPS steps; a title longer than a step name may be.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    table = [line for line in lines if "|" in line]
    is_table = any(TABLE_SEPARATOR.match(line) for line in table)
    items = _table_items(table) if is_table else _list_items(lines)
    if not items:
        raise ChecklistError(f"No steps found. Paste {FORMATS}.")
    if len(items) > MAX_STEPS:
        raise ChecklistError(f"A checklist has at most {MAX_STEPS} steps; this one has {len(items)}.")
    for item in items:
        if len(item.title) > MAX_TITLE_LENGTH:
            raise ChecklistError(
                f"A step title is limited to {MAX_TITLE_LENGTH} characters: {item.title[:40]}… has {len(item.title)}."
            )
    return _unique_titles(items)


def _clean(text: str) -> str:
    """Runs of spaces and tabs become one space; a title is never wrapped in ``**``."""
    return " ".join(text.replace("**", "").split())


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [_clean(cell) for cell in line.split("|")]


def _table_items(lines: list[str]) -> list[ChecklistItem]:
    rows = [_cells(line) for line in lines if not TABLE_SEPARATOR.match(line)]
    if not rows:
        return []
    header, body = [cell.lower() for cell in rows[0]], rows[1:]
    title_at = _column(header, TITLE_HEADERS)
    who_at = _column(header, WHO_HEADERS)
    if title_at is None:
        # A table without a title header: the first column that is not a number or the who.
        title_at = next(
            (i for i in range(len(header)) if i != who_at and not _numbers_only(body, i)),
            None,
        )
    if title_at is None:
        return []
    items = []
    for row in body:
        title = row[title_at] if title_at < len(row) else ""
        if title:
            team = row[who_at] if who_at is not None and who_at < len(row) else ""
            items.append(ChecklistItem(title, team))
    return items


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    return next((i for i, cell in enumerate(header) if cell in names), None)


def _numbers_only(rows: list[list[str]], index: int) -> bool:
    return all(index < len(row) and row[index].rstrip(".").isdigit() for row in rows)


def _list_items(lines: list[str]) -> list[ChecklistItem]:
    items = []
    for line in lines:
        match = LIST_ITEM.match(line)
        if not match:
            continue
        text = _clean(match["text"])
        with_team = TRAILING_TEAM.match(text)
        if with_team and with_team["title"]:
            items.append(ChecklistItem(with_team["title"], _clean(with_team["team"])))
        elif text:
            items.append(ChecklistItem(text))
    return items


def _unique_titles(items: list[ChecklistItem]) -> list[ChecklistItem]:
    seen: dict[str, int] = {}
    unique = []
    for item in items:
        count = seen.get(item.title, 0) + 1
        seen[item.title] = count
        title = item.title if count == 1 else f"{item.title} ({count})"
        unique.append(ChecklistItem(title, item.team))
    return unique
