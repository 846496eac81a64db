"""The shared template helpers: relative times with the exact time in a title, durations."""

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template

from relman.templatetags.relman_tags import duration, relative

NOW = datetime(2026, 3, 3, 13, 21, 24, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "text"),
    [
        (timedelta(seconds=10), "just now"),
        (timedelta(minutes=12), "12 min ago"),
        (timedelta(hours=3, minutes=5), "3 h ago"),
        (timedelta(days=1, hours=2), "1 day ago"),
        (timedelta(days=9), "9 days ago"),
        (timedelta(days=90), "2025-12-03"),
    ],
)
def test_relative(ago, text):
    assert relative(NOW - ago, now=NOW) == text


def test_ago_tag_puts_the_exact_utc_time_in_a_title():
    html = Template("{% load relman_tags %}{% ago moment %}").render(Context({"moment": NOW}))
    assert html.startswith('<time datetime="2026-03-03T13:21:24Z" title="2026-03-03T13:21:24Z">')
    assert Template("{% load relman_tags %}{% ago moment %}").render(Context({"moment": None})) == "—"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (timedelta(seconds=4), "4 s"),
        (timedelta(minutes=1, seconds=12), "1 min 12 s"),
        (timedelta(hours=2, minutes=5, seconds=9), "2 h 5 min"),
    ],
)
def test_duration(value, text):
    assert duration(value) == text


def test_state_badge_names_the_state_for_screen_readers_when_compact():
    html = Template("{% load releases_tags %}{% state_badge 'waiting' compact=True %}").render(Context())
    assert 'class="visually-hidden">Waiting for a person<' in html
    assert "badge__icon--eye" in html
