"""The default cache: RELMAN_CACHE_URL names a Redis database that every web process shares,
so an API rate limit counts the requests of all of them; unset, each process's memory."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from rest_framework.throttling import AnonRateThrottle

from relman.env import env_redis_url
from relman.settings import _cache

REDIS_CACHE = "django.core.cache.backends.redis.RedisCache"
needs_redis = pytest.mark.skipif(
    settings.CACHES["default"]["BACKEND"] != REDIS_CACHE,
    reason="the cache is each process's memory here; set RELMAN_TEST_CACHE_URL to test a shared one",
)
# A second web process: the same settings, its own Redis connection, DRF's own throttle.
OTHER_WEB_PROCESS = """
import django; django.setup()
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from rest_framework.throttling import AnonRateThrottle
AnonRateThrottle.rate = "3/min"
request = RequestFactory().get("/api/v1/schema/", REMOTE_ADDR="203.0.113.9")
request.user = AnonymousUser()
print(*(AnonRateThrottle().allow_request(request, None) for _ in range(2)))
"""


@pytest.fixture
def three_a_minute(monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "rate", "3/min", raising=False)
    caches["default"].clear()
    yield
    caches["default"].clear()


def allowed(cache) -> bool:
    """Whether DRF's anonymous throttle, counting in ``cache``, lets one more request through."""
    request = RequestFactory().get("/api/v1/schema/", REMOTE_ADDR="203.0.113.9")
    request.user = AnonymousUser()
    throttle = AnonRateThrottle()
    throttle.cache = cache
    return throttle.allow_request(request, None)


@needs_redis
def test_two_cache_connections_see_one_throttle_count(three_a_minute):
    first, second = caches.create_connection("default"), caches.create_connection("default")
    assert first is not second
    assert [allowed(first), allowed(second), allowed(first)] == [True, True, True]
    assert not allowed(second)
    assert not allowed(first)


@needs_redis
def test_another_web_process_counts_against_the_same_limit(three_a_minute):
    assert allowed(caches["default"]) and allowed(caches["default"])
    result = subprocess.run(
        [sys.executable, "-c", OTHER_WEB_PROCESS],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "relman.settings_test"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]
    assert not allowed(caches["default"])


def test_unset_cache_url_is_each_process_memory(monkeypatch):
    monkeypatch.delenv("RELMAN_CACHE_URL", raising=False)
    assert _cache(env_redis_url("RELMAN_CACHE_URL")) == {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache"
    }


@pytest.mark.parametrize(
    "url",
    [
        "redis://redis:6379/1",
        "redis://:s3cret@redis.example.com/0",
        "rediss://redis.example.com:6380/2",
        "redis://127.0.0.1",
        "unix:///run/redis/redis.sock?db=1",
    ],
)
def test_a_redis_url_configures_django_redis_cache(monkeypatch, url):
    monkeypatch.setenv("RELMAN_CACHE_URL", url)
    assert _cache(env_redis_url("RELMAN_CACHE_URL")) == {"BACKEND": REDIS_CACHE, "LOCATION": url}


@pytest.mark.parametrize(
    "url",
    [
        "redis",
        "127.0.0.1:6379",
        "http://redis:6379/1",
        "redis:///1",
        "redis://redis:port/1",
        "redis://redis:6379/one",
        "memcached://cache:11211",
        "unix://",
    ],
)
def test_a_malformed_cache_url_stops_startup(monkeypatch, url):
    monkeypatch.setenv("RELMAN_CACHE_URL", url)
    with pytest.raises(ImproperlyConfigured, match="RELMAN_CACHE_URL must be a Redis URL"):
        env_redis_url("RELMAN_CACHE_URL")


def test_the_refusal_does_not_show_the_password(monkeypatch):
    monkeypatch.setenv("RELMAN_CACHE_URL", "redis://:s3cret-password@redis:63790000/1")
    with pytest.raises(ImproperlyConfigured) as refused:
        env_redis_url("RELMAN_CACHE_URL")
    assert "s3cret-password" not in str(refused.value)
