"""Reading pasted checklists: pure functions, no database."""

import pytest

from processes.checklist import MAX_STEPS, ChecklistError, ChecklistItem, parse_checklist

SEED_TABLE = """\
| Step   | Title                                                        | Who  |
|--------|--------------------------------------------------------------|------|
| 1      | Backup the database                                          | DBA  |
| 2      | Upgrade the database                                         | DBA  |
| 3      | Copy the new application to a temporary folder on the server | Ops  |
| 4      | Delete the configuration file in the temporary folder        | Ops  |
| 5      | Copy the live configuration file into the temporary folder   | Ops  |
| 6      | Add any new settings to the configuration file               | Ops  |
| 7      | Copy the temporary folder into the live folder               | Ops  |
| 8      | Check the application loads as expected                      | Test |
"""


def test_the_seed_table_gives_its_eight_steps_with_their_teams():
    items = parse_checklist(SEED_TABLE)
    assert len(items) == 8
    assert items[0] == ChecklistItem("Backup the database", "DBA")
    assert items[2] == ChecklistItem("Copy the new application to a temporary folder on the server", "Ops")
    assert items[7] == ChecklistItem("Check the application loads as expected", "Test")


def test_a_table_without_its_outer_pipes_or_a_step_column_still_reads():
    text = "Title | Team\n---|:---:\nBackup the database | DBA\nDeploy | \n"
    assert parse_checklist(text) == [ChecklistItem("Backup the database", "DBA"), ChecklistItem("Deploy", "")]


def test_a_table_without_a_team_column_gives_steps_for_anyone():
    text = "| # | Task |\n|---|---|\n| 1 | Backup the database |\n| 2 | Upgrade the database |\n"
    assert parse_checklist(text) == [
        ChecklistItem("Backup the database"),
        ChecklistItem("Upgrade the database"),
    ]


def test_a_table_without_a_title_header_takes_its_first_column_of_words():
    text = "| No. | Thing | Who |\n|--|--|--|\n| 1. | Backup | DBA |\n"
    assert parse_checklist(text) == [ChecklistItem("Backup", "DBA")]


def test_a_numbered_list_with_teams_in_parentheses():
    text = "1. Backup the database (DBA)\n2) Upgrade the database (DBA)\n10. Smoke test\n"
    assert parse_checklist(text) == [
        ChecklistItem("Backup the database", "DBA"),
        ChecklistItem("Upgrade the database", "DBA"),
        ChecklistItem("Smoke test", ""),
    ]


def test_bulleted_and_task_lists_with_odd_spacing_among_prose():
    text = (
        "Release steps:\n\n  -   Backup   the\tdatabase   (  DBA )  \n* [ ] **Deploy** (Ops)\n+ [x] Check\n"
    )
    assert parse_checklist(text) == [
        ChecklistItem("Backup the database", "DBA"),
        ChecklistItem("Deploy", "Ops"),
        ChecklistItem("Check", ""),
    ]


def test_duplicate_titles_are_numbered_so_step_names_stay_unique():
    items = parse_checklist("- Deploy (Ops)\n- Check\n- Deploy (Ops)\n- Deploy\n")
    assert [item.title for item in items] == ["Deploy", "Check", "Deploy (2)", "Deploy (3)"]


@pytest.mark.parametrize(
    "text", ["", "   \n\n", "Just some prose about releasing.", "| Step |\n|---|\n| 1 |\n"]
)
def test_nothing_recognisable_is_refused_naming_the_formats(text):
    with pytest.raises(
        ChecklistError, match=r"No steps found\. Paste a Markdown table .* numbered list .* bulleted"
    ):
        parse_checklist(text)


def test_more_than_200_steps_is_refused():
    assert len(parse_checklist("".join(f"- Step {n}\n" for n in range(MAX_STEPS)))) == MAX_STEPS
    with pytest.raises(ChecklistError, match="at most 200 steps; this one has 201"):
        parse_checklist("".join(f"- Step {n}\n" for n in range(MAX_STEPS + 1)))


def test_a_title_longer_than_a_step_name_is_refused():
    with pytest.raises(ChecklistError, match="limited to 200 characters"):
        parse_checklist("- " + "x" * 201)
