"""The automation ladder on the Process tab: the ladder in words, the "Paste a checklist"
page with its preview, and the Automate button — each for project editors only."""

import pytest

from processes.models import Step
from processes.services import project_create
from tests.processes.test_checklist import SEED_TABLE

LAST_STEP = "Check the application loads as expected"


@pytest.fixture
def helper(octopus):
    step = Step.objects.get(project=octopus.project, name=LAST_STEP)
    step.script = "curl -fsS http://app/healthz"
    step.save(update_fields=["script"])
    return step


def test_the_ladder_names_each_rung_and_its_steps(
    signed_in, editor, octopus, helper, django_assert_max_num_queries
):
    client = signed_in(editor)
    with django_assert_max_num_queries(20):
        html = client.get(f"/projects/{octopus.project.slug}/process/").content.decode()
    assert (
        '<strong>Rung 2</strong> · Manual step with a helper script <span class="muted">(1 step)</span>'
        in html
    )
    assert '<strong>Rung 1</strong> · Manual step <span class="muted">(7 steps)</span>' in html
    assert (
        '<strong>Rung 3</strong> · Script step, runs by itself <span class="muted">(0 steps)</span>' in html
    )
    assert "<summary>Helper script</summary>" in html
    assert html.count("Automate this step") == 1
    assert "Paste a checklist" in html


def test_others_see_the_ladder_but_no_actions(signed_in, vera, octopus, helper):
    client = signed_in(vera)
    html = client.get(f"/projects/{octopus.project.slug}/process/").content.decode()
    assert "Rung 2" in html and "Automate this step" not in html and "Paste a checklist" not in html
    assert "Remove step" not in html
    assert client.get(f"/projects/{octopus.project.slug}/process/import/").status_code == 404
    assert client.post(f"/projects/{octopus.project.slug}/process/steps/8/automate/").status_code == 404
    assert Step.objects.get(pk=helper.pk).kind == "manual"


def test_paste_preview_then_import_the_seed_table(signed_in, editor, octopus, root):
    project = project_create(name="Pasted", lifecycle=octopus.project.lifecycle, actor=root)
    url = f"/projects/{project.slug}/process/import/"
    client = signed_in(editor)
    assert "Create the teams" not in client.get(url).content.decode()
    preview = client.post(url, {"markdown": SEED_TABLE, "action": "preview"})
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "Import 8 steps" in html and "Copy the temporary folder into the live folder" in html
    assert (
        html.count("<td>DBA Team</td>") == 2
        and html.count("<td>Test Team</td>") == 1
        and "No team matches" not in html
    )
    assert not project.steps.exists()
    imported = client.post(url, {"markdown": SEED_TABLE, "action": "import"})
    assert imported.status_code == 302 and imported["Location"] == f"/projects/{project.slug}/process/"
    assert project.steps.count() == 8


def test_paste_shows_unmatched_names_and_refusals(signed_in, editor, octopus):
    url = f"/projects/{octopus.project.slug}/process/import/"
    client = signed_in(editor)
    html = client.post(url, {"markdown": "1. Sign off (Release Board)", "action": "preview"}).content.decode()
    assert "<strong>No team matches</strong> Release Board" in html
    refused = client.post(url, {"markdown": "Deploy on Fridays.", "action": "import"})
    assert refused.status_code == 400
    assert "No steps found. Paste a Markdown table" in refused.content.decode()
    assert Step.objects.filter(project=octopus.project).count() == 8


def test_automate_button_then_the_refusal_when_pressed_again(signed_in, editor, octopus, helper):
    client = signed_in(editor)
    url = f"/projects/{octopus.project.slug}/process/steps/8/automate/"
    page = client.post(url, {"keep_check": "on"}, follow=True)
    messages = [str(m) for m in page.context["messages"]]
    assert messages == ["Step 8 now runs its script by itself, in new releases."]
    assert [s.name for s in octopus.project.steps.order_by("position")][-2:] == [
        LAST_STEP,
        f"Check: {LAST_STEP}",
    ]
    again = client.post(url, follow=True)
    assert "is at rung 3" in str(list(again.context["messages"])[0])


def test_remove_step_asks_first_then_removes_it_for_new_releases_only(signed_in, editor, octopus, root):
    from releases.services import release_create
    from teams.models import AuditEvent

    release = release_create(project=octopus.project, version="1.0.0", actor=root)
    client = signed_in(editor)
    url = f"/projects/{octopus.project.slug}/process/steps/8/remove/"
    asked = client.post(url)
    assert asked.status_code == 200
    assert f"Remove step 8, {LAST_STEP}, from the process?" in asked.content.decode()
    assert Step.objects.filter(project=octopus.project).count() == 8

    response = client.post(url, {"confirmed": "1"}, follow=True)
    assert f"Removed {LAST_STEP}: new releases no longer have it." in response.content.decode()
    assert Step.objects.filter(project=octopus.project).count() == 7
    assert release.steps.count() == 8  # the release made before keeps its snapshot
    event = AuditEvent.objects.get(action="process.step_removed")
    assert event.changes == {"step": LAST_STEP, "position": 8}

    gone = client.post(url, {"confirmed": "1"}, follow=True)
    assert "has no step 8; its steps are 1 to 7." in gone.content.decode()
    assert client.post(f"/projects/{octopus.project.slug}/process/steps/9/remove/").status_code == 404


def test_only_project_editors_may_remove_a_step(signed_in, vera, octopus):
    client = signed_in(vera)
    url = f"/projects/{octopus.project.slug}/process/steps/1/remove/"
    assert client.post(url, {"confirmed": "1"}).status_code == 404
    assert Step.objects.filter(project=octopus.project).count() == 8
