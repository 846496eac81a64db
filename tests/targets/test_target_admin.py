"""Targets in the admin: saved through their services, the agent token shown once."""

from lifecycles.models import Environment
from targets.models import Target


def test_adding_a_target_and_rotating_its_token_show_the_token_once(admin_client, octopus):
    environment = Environment.objects.get(slug="manual-test")
    form = {
        "name": "web-9",
        "slug": "web-9",
        "environments": [environment.pk],
        "roles": "web, app",
        "enabled": "on",
    }
    response = admin_client.post("/admin/targets/target/add/", form, follow=True)
    target = Target.objects.get(slug="web-9")
    assert (target.roles, list(target.environments.all())) == (["web", "app"], [environment])
    assert "shown this once: rmt_" in response.content.decode()
    rotate = {"action": "rotate_token", "_selected_action": [target.pk]}
    response = admin_client.post("/admin/targets/target/", rotate, follow=True)
    assert "shown this once: rmt_" in response.content.decode()
    assert Target.objects.get(pk=target.pk).token_prefix != target.token_prefix
