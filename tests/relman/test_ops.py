"""Operating Relman: the probes, the Prometheus figures, JSON logs and the request id that
follows a request into the tasks it publishes."""

import importlib.util
import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import kombu.pools
import pytest
from django.db.utils import ConnectionHandler
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from releases.choices import DeploymentState, StepState
from releases.models import Deployment, DeploymentStep, Interruption
from releases.services import deployment_create, release_create
from relman import health, logs
from relman.celery import app
from relman.queue import publish
from relman.requestid import RequestIdMiddleware
from targets.models import Target
from targets.services import target_create

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-test-token-0123456789"


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reset_broker_connections() -> None:
    """Drops pooled broker connections, so the next publish uses the broker now configured
    (as tests/releases/conftest.py does)."""
    app.pool.force_close_all()
    kombu.pools.reset()
    app._after_fork()


@pytest.fixture
def broker_conf():
    """Lets a test point the Celery app at another broker; restores it afterwards."""
    saved = (app.conf.task_always_eager, app.conf.broker_url, app.conf.broker_transport_options)
    yield app.conf
    app.conf.update(task_always_eager=saved[0], broker_url=saved[1], broker_transport_options=saved[2])
    reset_broker_connections()


@pytest.fixture
def filesystem_broker(broker_conf, tmp_path):
    """A filesystem broker in a folder of this test's own (the default in embedded mode)."""
    folders = {
        key: tmp_path / "broker" / name
        for key, name in (
            ("data_folder_in", "out"),
            ("data_folder_out", "out"),
            ("processed_folder", "processed"),
            ("control_folder", "control"),
        )
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    broker_conf.update(
        broker_url="filesystem://",
        broker_transport_options={
            **{key: str(path) for key, path in folders.items()},
            "store_processed": False,
        },
    )
    return folders


@pytest.fixture
def live_broker(request):
    """The suite's broker as it is when it answers: Redis when RELMAN_TEST_BROKER_URL is
    set, else a filesystem broker whose folders exist."""
    if str(app.conf.broker_url).startswith("filesystem:"):
        return request.getfixturevalue("filesystem_broker")
    return None


# --- /healthz and /readyz -------------------------------------------------------------


def test_healthz_answers_without_sign_in(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_ok_when_database_and_broker_answer(client, live_broker):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checked": ["database", "broker"]}


@pytest.mark.django_db
def test_readyz_names_the_broker_when_redis_refuses(client, broker_conf):
    broker_conf.update(broker_url=f"redis://127.0.0.1:{closed_port()}/0", broker_transport_options={})
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": ["broker"]}


@pytest.mark.django_db
def test_readyz_gives_up_on_a_broker_that_never_answers(client, broker_conf):
    """A host that accepts the connection and then stays silent (a hung Redis)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        broker_conf.update(
            broker_url=f"redis://127.0.0.1:{silent.getsockname()[1]}/0", broker_transport_options={}
        )
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]
    assert elapsed < health.TIMEOUT_SECONDS + 1.5


@pytest.mark.django_db
def test_readyz_names_the_filesystem_broker_without_its_folders(client, filesystem_broker):
    filesystem_broker["processed_folder"].rmdir()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": ["broker"]}


@pytest.mark.django_db
def test_readyz_names_the_database_when_it_refuses(client, live_broker, monkeypatch):
    """A real connection attempt to a PostgreSQL port where nothing listens; the test
    database itself is left alone."""
    unreachable = ConnectionHandler(
        {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "relman",
                "USER": "relman",
                "PASSWORD": "not-shown",
                "HOST": "127.0.0.1",
                "PORT": str(closed_port()),
            }
        }
    )
    monkeypatch.setattr(health, "connections", unreachable)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "failed": ["database"]}
    assert b"127.0.0.1" not in response.content and b"not-shown" not in response.content


@pytest.mark.django_db
def test_probes_are_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301


# --- /metrics -------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_do_not_exist_without_a_token_set(client, settings):
    settings.RELMAN_METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    assert client.get("/metrics").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_metrics_refused_without_the_right_token(client, settings, authorization):
    settings.RELMAN_METRICS_TOKEN = TOKEN
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 404
    assert b"relman_" not in response.content


def _figures(content: bytes) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(content.decode())
        for sample in family.samples
    }


@pytest.mark.django_db
def test_metrics_count_deployments_interruptions_and_step_durations(
    client, settings, octopus, root, engine, django_assert_max_num_queries
):
    settings.RELMAN_METRICS_TOKEN = TOKEN
    test, live = octopus.environments
    with engine():
        release = release_create(project=octopus.project, version="1.0.0", actor=root)
        waiting = deployment_create(release=release, environment=test, actor=root)
    assert Deployment.objects.get(pk=waiting.pk).state == DeploymentState.WAITING
    # Finished history, written as rows: the figures only read it.
    for state in (DeploymentState.SUCCESS, DeploymentState.SUCCESS, DeploymentState.FAILED):
        Deployment.objects.create(
            release=release, project=octopus.project, environment=live, state=state, created_by=root
        )
    now = timezone.now()
    Interruption.objects.filter(deployment=waiting, pending=True).update(
        created_at=now - timedelta(seconds=120)
    )
    steps = list(waiting.steps.order_by("position"))
    for step, seconds in ((steps[-2], 3), (steps[-1], 100)):
        DeploymentStep.objects.filter(pk=step.pk).update(
            state=StepState.SUCCESS, started_at=now - timedelta(seconds=seconds), finished_at=now
        )

    target_create(name="web-1", environments=[test], roles=["web"], actor=None)
    seen, _ = target_create(name="web-2", environments=[test], roles=["web"], actor=None)
    Target.objects.filter(pk=seen.pk).update(last_seen=now)

    with django_assert_max_num_queries(5):
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    figures = _figures(response.content)
    assert figures[("relman_deployments", (("state", "waiting"),))] == 1
    assert figures[("relman_deployments", (("state", "success"),))] == 2
    assert figures[("relman_deployments", (("state", "failed"),))] == 1
    assert figures[("relman_deployments", (("state", "queued"),))] == 0
    assert figures[("relman_interruptions_pending", ())] == 1
    assert figures[("relman_targets", (("status", "online"),))] == 1
    assert figures[("relman_targets", (("status", "offline"),))] == 1
    assert figures[("relman_notification_deliveries", (("channel", "webhook"), ("state", "failed")))] == 0
    assert 120 <= figures[("relman_interruption_oldest_pending_age_seconds", ())] < 150
    manual = ("kind", "manual")
    assert figures[("relman_step_duration_seconds_bucket", (("kind", "manual"), ("le", "1.0")))] == 0
    assert figures[("relman_step_duration_seconds_bucket", (manual, ("le", "5.0")))] == 1
    assert figures[("relman_step_duration_seconds_bucket", (manual, ("le", "60.0")))] == 1
    assert figures[("relman_step_duration_seconds_bucket", (manual, ("le", "300.0")))] == 2
    assert figures[("relman_step_duration_seconds_bucket", (manual, ("le", "+Inf")))] == 2
    assert figures[("relman_step_duration_seconds_count", (manual,))] == 2
    assert figures[("relman_step_duration_seconds_sum", (manual,))] == pytest.approx(103)


@pytest.mark.django_db
def test_metrics_with_nothing_to_count(client, settings):
    settings.RELMAN_METRICS_TOKEN = TOKEN
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    figures = _figures(response.content)
    assert figures[("relman_interruptions_pending", ())] == 0
    assert figures[("relman_interruption_oldest_pending_age_seconds", ())] == 0
    assert not any(name.startswith("relman_step_duration") for name, _ in figures)


# --- The request id and JSON logs -----------------------------------------------------


@pytest.fixture
def json_log():
    """Captures what Django's request logger writes, formatted as RELMAN_LOG_FORMAT=json."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


@pytest.mark.django_db
def test_json_log_lines_carry_the_request_id_and_user(client, sarah, json_log):
    client.force_login(sarah)
    response = client.get("/no-such-page/", headers={"X-Request-ID": "edge-7f3a.1_b"})
    assert response.status_code == 404
    assert response["X-Request-ID"] == "edge-7f3a.1_b"
    [line] = json_log()
    assert line["request_id"] == "edge-7f3a.1_b"
    assert line["user"] == "sarah"
    assert line["level"] == "WARNING"
    assert line["logger"] == "django.request"
    assert "/no-such-page/" in line["message"]
    assert line["time"].endswith("+00:00")
    assert logs.request_id.get() is None, "the context ends with the response"


@pytest.mark.parametrize("given", ["has space", "x" * 65, "new\nline", "ünïcode", ""])
def test_an_unusable_request_id_is_replaced(client, given):
    response = client.get("/healthz", headers={"X-Request-ID": given} if given else {})
    assert response["X-Request-ID"] != given
    assert len(response["X-Request-ID"]) == 32
    assert int(response["X-Request-ID"], 16) >= 0


def test_json_formatter_writes_the_exception_and_deployment():
    logger = logging.getLogger("relman.tests.ops")
    record = None
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        with logs.deployment_context(42):
            record = logger.makeRecord(
                logger.name, logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info()
            )
            text = logs.JsonFormatter().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert line["message"] == "failed x"
    assert line["deployment_id"] == 42
    assert "ValueError: broken" in line["exception"]
    assert "request_id" not in line
    assert logs.deployment_id.get() is None


def test_log_format_json_configures_every_line_as_json(tmp_path):
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("RELMAN_")},
        "DJANGO_SETTINGS_MODULE": "relman.settings",
        "RELMAN_SECRET_KEY": "log-format-test-secret-key-0123456789-abcdefghijkl",
        "RELMAN_ENCRYPTION_KEY": "bG9nLWZvcm1hdC10ZXN0LWVuY3J5cHRpb24ta2V5LTE=",
        "RELMAN_VAR_DIR": str(tmp_path),
        "RELMAN_LOG_FORMAT": "json",
    }
    code = "import django, logging; django.setup(); logging.getLogger('releases.engine').warning('hello %s', 'there')"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    [line] = [json.loads(text) for text in result.stderr.splitlines()]
    assert line["message"] == "hello there"
    assert line["logger"] == "releases.engine"

    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "RELMAN_LOG_FORMAT": "xml"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "RELMAN_LOG_FORMAT must be text or json" in result.stderr


seen_in_task: list[str | None] = []


@app.task(name="tests.relman.test_ops.remember_request_id")
def remember_request_id() -> None:
    seen_in_task.append(logs.request_id.get())


def _serve_publishing(task_name: str, request_id: str) -> HttpResponse:
    """Runs the request id middleware around a view that publishes ``task_name``."""

    def view(request):
        publish(task_name)
        return HttpResponse("published")

    request = RequestFactory().get("/anything", headers={"X-Request-ID": request_id})
    return RequestIdMiddleware(view)(request)


def test_a_task_run_in_process_sees_the_request_id():
    seen_in_task.clear()
    _serve_publishing("tests.relman.test_ops.remember_request_id", "req-eager-1")
    assert seen_in_task == ["req-eager-1"]


def test_a_task_message_carries_the_request_id(filesystem_broker):
    app.conf.task_always_eager = False
    reset_broker_connections()
    _serve_publishing("tests.relman.test_ops.remember_request_id", "req-queued-1")
    [message_file] = list(filesystem_broker["data_folder_out"].iterdir())
    message = json.loads(message_file.read_text())
    assert message["headers"][logs.REQUEST_ID_HEADER] == "req-queued-1"
    assert message["headers"]["task"] == "tests.relman.test_ops.remember_request_id"


def _workers_class():
    """The worker pool of the releases integration tests (a conftest, so not importable)."""
    spec = importlib.util.spec_from_file_location("releases_workers", ROOT / "tests/releases/conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Workers


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_logs_the_request_id_of_the_request_that_published(tmp_path, wait_for_log):
    pool = _workers_class()(tmp_path)
    pool.env["RELMAN_LOG_FORMAT"] = "json"
    try:
        pool.start()
        _serve_publishing("releases.tasks.deployments_sweep_task", "req-worker-1")
        line = wait_for_log(tmp_path / "worker-0.log", "req-worker-1")
    finally:
        pool.stop()
    assert line["logger"] == "celery.app.trace"
    assert "deployments_sweep_task" in line["message"] and "succeeded" in line["message"]


@pytest.fixture
def wait_for_log():
    def wait(log: Path, request_id: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in log.read_text(errors="replace").splitlines():
                if text.startswith("{"):
                    line = json.loads(text)
                    if line.get("request_id") == request_id:
                        return line
            time.sleep(0.2)
        raise AssertionError(f"no line with request id {request_id} in {log.name}:\n{log.read_text()}")

    return wait
