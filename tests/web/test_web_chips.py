"""A deployment's chip has one source (releases.rendering): the project page shows the
same markup as the dashboard's cell, escaped the same way."""

import re

import pytest
from django.urls import reverse

from releases.models import Release

pytestmark = pytest.mark.django_db


def chip(html: str, url: str) -> str:
    match = re.search(rf'<a class="chip [^"]*" href="{re.escape(url)}".*?</a>', html, re.S)
    assert match, url
    return match.group(0)


def test_project_page_shows_the_dashboard_chip(signed_in, sarah, waiting):
    Release.objects.filter(pk=waiting.release_id).update(version="<em>1</em>")
    client = signed_in(sarah)
    url = waiting.get_absolute_url()
    on_dashboard = chip(client.get(reverse("dashboard")).content.decode(), url)
    on_project = chip(client.get(waiting.project.get_absolute_url()).content.decode(), url)
    assert on_project == on_dashboard
    assert '<span class="chip__version">&lt;em&gt;1&lt;/em&gt;</span>' in on_project
    assert 'data-state="waiting"' in on_project
