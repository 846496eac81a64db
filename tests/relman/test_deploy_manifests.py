"""The ways Relman is deployed (deploy/kubernetes/, docker-compose.yml, `manage.py serve`)
agree with its settings: the Kubernetes manifests are valid, every process reads the same
Secret and ConfigMap, one beat runs, the web probes ask the health endpoints, and some
worker consumes every queue a task is routed to."""

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from django.conf import settings

from processes.services import MAX_TIMEOUT_SECONDS
from relman import settings as production_settings
from relman.management.commands.serve import WORKER_QUEUES
from relman.management.commands.serve import Command as Serve

ROOT = Path(settings.BASE_DIR)
MANIFESTS = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes release the manifests are checked against.
KUBERNETES_VERSION = "1.30"
SECRET, CONFIG_MAP = "relman-secrets", "relman-settings"
AGENT, AGENT_SECRET = "relman-agent", "relman-agent"


def documents() -> list[tuple[str, dict]]:
    """Every object of every manifest, with the file it is in."""
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        found += [(path.name, document) for document in yaml.safe_load_all(path.read_text()) if document]
    return found


def each_document() -> list:
    return [pytest.param(document, id=f"{name}:{document['kind']}") for name, document in documents()]


def workloads() -> dict[str, dict]:
    """Every Deployment and Job by name."""
    return {doc["metadata"]["name"]: doc for _, doc in documents() if doc["kind"] in ("Deployment", "Job")}


def containers(workload: dict) -> list[dict]:
    pod = workload["spec"]["template"]["spec"]
    return pod.get("initContainers", []) + pod["containers"]


def routed_queues() -> set[str]:
    routes = production_settings.CELERY_TASK_ROUTES
    return {route["queue"] for route in routes.values()} | {production_settings.CELERY_TASK_DEFAULT_QUEUE}


def consumed_queues(command: list[str] | str) -> set[str]:
    """The queues a `celery worker` command line consumes (none for another program)."""
    line = command if isinstance(command, str) else " ".join(command)
    if " worker" not in line:
        return set()
    match = re.search(r"(?:--queues[= ]|-Q )(\S+)", line)
    assert match, f"a worker that names no queue consumes only the default one: {line}"
    return set(match.group(1).split(","))


@pytest.mark.parametrize("document", each_document())
def test_each_manifest_is_valid_kubernetes(document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_manifests_hold_every_process_and_its_configuration():
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in documents()}
    assert kinds == {
        ("Secret", SECRET),
        ("ConfigMap", CONFIG_MAP),
        ("Job", "relman-migrate"),
        ("Deployment", "relman-web"),
        ("Service", "relman-web"),
        ("Deployment", "relman-worker-steps"),
        ("Deployment", "relman-worker-system"),
        ("Deployment", "relman-beat"),
        ("Secret", AGENT_SECRET),
        ("Deployment", AGENT),
    }


def test_every_container_reads_its_settings_from_the_secret_and_the_config_map():
    for name, workload in workloads().items():
        if name == AGENT:
            continue
        for container in containers(workload):
            sources = {(kind, ref["name"]) for source in container["envFrom"] for kind, ref in source.items()}
            assert sources == {("configMapRef", CONFIG_MAP), ("secretRef", SECRET)}, name
            assert "env" not in container, f"{name}: settings belong in the ConfigMap or the Secret"


def test_the_agent_reads_its_own_token_and_none_of_the_servers_settings():
    (container,) = containers(workloads()[AGENT])
    assert container["envFrom"] == [{"secretRef": {"name": AGENT_SECRET}}]
    assert "env" not in container
    (secret,) = [
        doc for _, doc in documents() if doc["kind"] == "Secret" and doc["metadata"]["name"] == AGENT_SECRET
    ]
    assert set(secret["stringData"]) == {"RELMAN_URL", "RELMAN_AGENT_TOKEN"}
    assert container["command"][0] == "relman-agent"


def test_the_secret_holds_only_marked_placeholders_and_every_key_is_documented():
    by_kind = {
        doc["kind"]: doc
        for _, doc in documents()
        if doc["kind"] in ("Secret", "ConfigMap") and doc["metadata"]["name"] in (SECRET, CONFIG_MAP)
    }
    secret = by_kind["Secret"]["stringData"]
    assert {"RELMAN_SECRET_KEY", "RELMAN_DATABASE_URL", "RELMAN_BROKER_URL", "RELMAN_CACHE_URL"} <= set(
        secret
    )
    assert all("CHANGE-ME" in value for value in secret.values()), secret
    documented = set(re.findall(r"^(RELMAN_\w+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert set(secret) | set(by_kind["ConfigMap"]["data"]) <= documented


def test_exactly_one_beat_which_an_update_replaces_rather_than_doubles():
    beat = workloads()["relman-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    beats = [
        name
        for name, workload in workloads().items()
        for container in containers(workload)
        if " beat" in " ".join(container["command"])
    ]
    assert beats == ["relman-beat"]


def test_the_web_probes_ask_the_health_endpoints():
    (web,) = workloads()["relman-web"]["spec"]["template"]["spec"]["containers"]
    ports = {port["name"] for port in web["ports"]}
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe"):
        assert web[probe]["httpGet"]["port"] in ports


def test_every_container_has_resource_requests_and_a_memory_limit():
    for name, workload in workloads().items():
        for container in containers(workload):
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert "memory" in container["resources"]["limits"], name


def test_kubernetes_workers_consume_every_routed_queue_apart():
    consumed = {
        name: set().union(*(consumed_queues(container["command"]) for container in containers(workload)))
        for name, workload in workloads().items()
    }
    assert consumed["relman-worker-steps"] == {"steps"}
    assert consumed["relman-worker-system"] == {"system"}
    assert set().union(*consumed.values()) == routed_queues()


def test_docker_compose_workers_consume_every_routed_queue_apart():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    consumed = {name: consumed_queues(service.get("command", "")) for name, service in services.items()}
    assert consumed["worker"] == {"steps"}
    assert consumed["worker-system"] == {"system"}
    assert set().union(*consumed.values()) == routed_queues()


def test_docker_compose_refuses_to_start_without_a_secret_key():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose["x-relman"]["environment"]["RELMAN_SECRET_KEY"].startswith("${RELMAN_SECRET_KEY:?")


def test_the_embedded_mode_runs_a_worker_for_every_routed_queue():
    consumed = [
        consumed_queues(Serve().worker_command(queue, concurrency=concurrency))
        for queue, concurrency in WORKER_QUEUES
    ]
    assert consumed == [{"steps"}, {"system"}]
    assert set().union(*consumed) == routed_queues()


def test_redis_redelivers_no_message_while_its_longest_step_may_still_run():
    assert production_settings.REDIS_VISIBILITY_TIMEOUT_SECONDS > MAX_TIMEOUT_SECONDS
