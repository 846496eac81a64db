"""The demo's automation ladder: seven checklist steps at rung 1 and the last at rung 2,
whose helper script is the shipped HTTP health check really asking Relman's /healthz;
GoodHealth has a rung-2 step."""

import subprocess

from relman import demo


def test_the_checklist_has_seven_steps_at_rung_one_and_the_last_at_rung_two(octopus, goodhealth):
    steps = list(octopus.project.steps.order_by("position"))
    assert [s.automation_level for s in steps] == [1] * 7 + [2]
    assert "/healthz" in steps[-1].script
    assert {s.name: s.automation_level for s in goodhealth.project.steps.all()} == {
        "Build check": 3,
        "Migrate Data": 2,
        "Deploy": 3,
    }


def test_the_health_check_helper_passes_against_a_serving_relman_and_fails_otherwise(
    live_server, settings, shipped_templates
):
    settings.RELMAN_BASE_URL = live_server.url
    serving = subprocess.run(
        ["bash", "-c", demo.healthz_helper_script()], capture_output=True, text=True, timeout=30
    )
    assert serving.returncode == 0, serving.stderr
    assert serving.stdout.strip() == f'OK: {live_server.url}/healthz answered 200 and contains "ok".'
    settings.RELMAN_BASE_URL = "http://127.0.0.1:9"
    refused = subprocess.run(
        ["bash", "-c", demo.healthz_helper_script()], capture_output=True, text=True, timeout=30
    )
    assert refused.returncode == 1
    assert "FAILED: http://127.0.0.1:9/healthz answered no answer" in refused.stderr
