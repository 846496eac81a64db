"""Rate limiting: generous by default, 429 with Retry-After and the usual error shape once
a caller goes over. The suite itself runs unthrottled (settings_test); these tests put a
low rate on the throttle classes."""

import os

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from relman.env import env_rate


@pytest.fixture
def low_rates(monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "rate", "3/min", raising=False)
    monkeypatch.setattr(AnonRateThrottle, "rate", "2/min", raising=False)
    cache.clear()
    yield
    cache.clear()


def test_user_over_the_rate_gets_429_with_retry_after(api, sarah, octopus, low_rates):
    client = api(sarah)
    assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/api/v1/deployments/")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["code"] == "throttled"
    assert response.json()["detail"].startswith("Request was throttled.")


def test_the_limit_is_per_user(api, sarah, olly, octopus, low_rates):
    for _ in range(3):
        api(sarah).get("/api/v1/me/")
    assert api(sarah).get("/api/v1/me/").status_code == 429
    assert api(olly).get("/api/v1/me/").status_code == 200


def test_anonymous_callers_have_their_own_lower_rate(client, db, low_rates):
    assert [client.get("/api/v1/schema/").status_code for _ in range(2)] == [200, 200]
    response = client.get("/api/v1/schema/")
    assert response.status_code == 429
    assert "Retry-After" in response


def test_the_schema_documents_401_and_429_everywhere(api, sarah, octopus):
    schema = api(sarah).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert operations
    for operation in operations:
        assert {"401", "429"} <= set(operation["responses"])
    too_many = schema["paths"]["/api/v1/deployments/"]["get"]["responses"]["429"]
    assert "Retry-After" in too_many["headers"]
    assert "404" in schema["paths"]["/api/v1/deployments/"]["get"]["responses"]


@pytest.mark.parametrize(
    ("raw", "rate"), [("6000/min", "6000/min"), ("10/s", "10/s"), ("", None), (" ", None)]
)
def test_rates_from_the_environment(monkeypatch, raw, rate):
    monkeypatch.setenv("RELMAN_API_RATE_USER", raw)
    assert env_rate("RELMAN_API_RATE_USER", "1/day") == rate


@pytest.mark.parametrize("raw", ["6000", "fast", "0/min", "10/fortnight", "-1/s"])
def test_a_malformed_rate_stops_startup(monkeypatch, raw):
    monkeypatch.setenv("RELMAN_API_RATE_USER", raw)
    with pytest.raises(ImproperlyConfigured, match="RELMAN_API_RATE_USER must look like 6000/min"):
        env_rate("RELMAN_API_RATE_USER", "1/day")


def test_default_rate_when_unset(monkeypatch):
    monkeypatch.delenv("RELMAN_API_RATE_ANON", raising=False)
    assert env_rate("RELMAN_API_RATE_ANON", "120/min") == "120/min"


def test_production_settings_throttle_by_default():
    from relman import settings

    rest = settings.REST_FRAMEWORK
    assert rest["DEFAULT_THROTTLE_CLASSES"] == [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ]
    if "RELMAN_API_RATE_USER" not in os.environ and "RELMAN_API_RATE_ANON" not in os.environ:
        assert rest["DEFAULT_THROTTLE_RATES"] == {"user": "6000/min", "anon": "120/min"}
