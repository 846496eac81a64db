"""The webhooks API of SPEC §13 (superusers only), its refusals, and the secret that is
shown once and never stored or audited in plain text."""

import pytest
from django.db import connection

from notifications.models import Delivery, Webhook
from notifications.services import webhook_send_test
from processes.services import project_delete
from relman.exceptions import Conflict
from teams.models import AuditEvent

pytestmark = pytest.mark.django_db

HOOKS = "/api/v1/webhooks/"


def test_create_shows_the_secret_once_and_stores_it_encrypted(api, root, octopus, receiver):
    client = api(root)
    answer = client.post(
        HOOKS,
        {"name": "Chat", "url": receiver.url, "format": "slack", "projects": ["manual-deployment"]},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    created = answer.json()
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert created["projects"] == ["manual-deployment"] and created["events"] == []
    shown = client.get(f"{HOOKS}{created['id']}/").json()
    assert "secret" not in shown and "secret" not in client.get(HOOKS).json()["results"][0]
    webhook = Webhook.objects.get()
    assert webhook.secret == secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM notifications_webhook")
        assert secret not in str(cursor.fetchall())
    assert secret not in str(list(AuditEvent.objects.values_list("changes", flat=True)))


def test_a_given_secret_is_kept_and_patch_changes_the_rest(api, root, octopus, receiver):
    client = api(root)
    created = client.post(
        HOOKS,
        {"name": "Mine", "url": receiver.url, "secret": "s" * 20, "events": ["deployment.failed"]},
        format="json",
    ).json()
    assert created["secret"] == "s" * 20
    changed = client.patch(
        f"{HOOKS}{created['id']}/", {"active": False, "environments": ["manual-live"]}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["active"] is False and changed.json()["environments"] == ["manual-live"]
    assert client.delete(f"{HOOKS}{created['id']}/").status_code == 204
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://example.com/hook", "starts with http:// or https://"),
        ("javascript:alert(1)", "Enter a valid URL"),
        ("http://127.0.0.1:8000/api/v1/deployments/", "this Relman server itself"),  # RELMAN_BASE_URL
        ("http://localhost:8000/hook", "this Relman server itself"),
        ("https://relman.example.com/api/v1/", "this Relman server itself"),  # the host asked
    ],
)
def test_a_url_that_is_not_http_or_is_this_server_is_refused(api, root, url, message):
    answer = api(root).post(HOOKS, {"name": "Bad", "url": url}, format="json", HTTP_HOST="relman.example.com")
    assert answer.status_code == 400
    assert message in answer.json()["detail"]
    assert not Webhook.objects.exists()


def test_an_unknown_event_is_refused(api, root, receiver):
    answer = api(root).post(
        HOOKS, {"name": "Bad", "url": receiver.url, "events": ["deployment.exploded"]}, format="json"
    )
    assert answer.status_code == 400


def test_only_superusers_reach_webhooks(api, sarah, vera, root, receiver, client):
    webhook_id = api(root).post(HOOKS, {"name": "Ops", "url": receiver.url}, format="json").json()["id"]
    for person in (sarah, vera):
        assert api(person).get(HOOKS).status_code == 403
        assert api(person).post(HOOKS, {"name": "X", "url": receiver.url}, format="json").status_code == 403
        assert api(person).get(f"{HOOKS}{webhook_id}/deliveries/").status_code == 403
        client.force_login(person)
        assert client.get(f"/webhooks/{webhook_id}/").status_code == 404
        assert client.post(f"/webhooks/{webhook_id}/test/").status_code == 404
    assert api().get(HOOKS).status_code in (401, 403)


def test_deliveries_list_every_attempt_and_the_page_redelivers(
    api, root, receiver, client, engine, django_assert_max_num_queries
):
    receiver.answers = [502, 200]
    client.force_login(root)
    webhook_id = api(root).post(HOOKS, {"name": "Ops", "url": receiver.url}, format="json").json()["id"]
    webhook = Webhook.objects.get()
    for _ in range(3):
        with engine():
            webhook_send_test(webhook=webhook, actor=root)
    with django_assert_max_num_queries(10):
        deliveries = api(root).get(f"{HOOKS}{webhook_id}/deliveries/").json()["results"]
    assert [d["state"] for d in deliveries] == ["delivered", "delivered", "pending"]
    failed = deliveries[2]
    assert failed["event"] == "webhook.test" and failed["next_attempt_at"]
    assert [(a["status_code"], a["succeeded"]) for a in failed["attempts"]] == [(502, False)]

    with django_assert_max_num_queries(12):
        page = client.get(f"/webhooks/{webhook_id}/")
    assert "HTTP 502" in page.content.decode() and "Redeliver" in page.content.decode()
    first = Delivery.objects.get(uuid=failed["id"])
    with engine():
        assert client.post(f"/webhooks/deliveries/{first.pk}/redeliver/").status_code == 302
    assert Delivery.objects.count() == 4
    assert Delivery.objects.order_by("-id").first().state == "delivered"


def test_the_admin_creates_through_the_service_and_shows_the_secret_once(admin_client, receiver):
    answer = admin_client.post(
        "/admin/notifications/webhook/add/",
        {
            "name": "Chat",
            "url": receiver.url,
            "events": ["deployment.failed"],
            "format": "json",
            "active": "on",
        },
        follow=True,
    )
    webhook = Webhook.objects.get()
    assert webhook.events == ["deployment.failed"]
    assert f"The secret of Chat is {webhook.secret}" in answer.content.decode()
    assert (
        webhook.secret
        not in admin_client.get(f"/admin/notifications/webhook/{webhook.pk}/change/").content.decode()
    )
    assert AuditEvent.objects.filter(action="webhook.created").exists()
    refused = admin_client.post(
        "/admin/notifications/webhook/add/",
        {"name": "Loop", "url": "http://127.0.0.1:8000/", "format": "json"},
    )
    assert "cannot point at this Relman server itself" in refused.content.decode()


def test_a_project_or_environment_a_webhook_is_filtered_to_cannot_be_deleted(api, root, octopus, receiver):
    """Deleting it would silently widen the webhook to every project or environment."""
    api(root).post(
        HOOKS,
        {
            "name": "Ops",
            "url": receiver.url,
            "projects": ["manual-deployment"],
            "environments": ["manual-live"],
        },
        format="json",
    )
    with pytest.raises(Conflict, match="is in the filter of the webhooks Ops"):
        project_delete(project=octopus.project, actor=root)
    answer = api(root).delete("/api/v1/environments/manual-live/")
    assert answer.status_code == 409
    assert "is in the filter of the webhooks Ops" in answer.json()["detail"]
