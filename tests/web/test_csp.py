"""Pages send a strict Content-Security-Policy and contain nothing it would block."""

import re

from django.urls import reverse


def _pages(waiting):
    return [
        reverse("dashboard"),
        reverse("releases:interruption_list"),
        waiting.project.get_absolute_url(),
        reverse("processes:process_detail", args=[waiting.project.slug]),
        waiting.release.get_absolute_url(),
        reverse("releases:deployment_create", args=[waiting.release.pk]) + "?environment=manual-test",
        waiting.get_absolute_url(),
        reverse("releases:deployment_cancel", args=[waiting.pk]),
    ]


def test_pages_send_a_strict_csp(signed_in, sarah, waiting):
    client = signed_in(sarah)
    for url in [*_pages(waiting), reverse("login")]:
        policy = client.get(url)["Content-Security-Policy"]
        assert "script-src 'self'" in policy, url
        assert "style-src 'self'" in policy, url
        assert "unsafe-inline" not in policy, url


def test_sign_in_page_sends_the_csp(client):
    assert "script-src 'self'" in client.get(reverse("login"))["Content-Security-Policy"]


def test_pages_have_no_inline_script_style_or_handler(signed_in, sarah, waiting):
    client = signed_in(sarah)
    for url in _pages(waiting):
        html = client.get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), url
        assert "<style" not in html, url
        assert not re.search(r"\sstyle=", html), url
        assert not re.search(r"\son[a-z]+=", html), url
        assert "javascript:" not in html, url


def test_htmx_is_vendored_with_its_config(signed_in, sarah, waiting):
    html = signed_in(sarah).get(reverse("dashboard")).content.decode()
    assert '<script src="/static/vendor/htmx.min.js" defer></script>' in html
    assert '"includeIndicatorStyles": false' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    sources = re.findall(r'<(?:script|link)[^>]*(?:src|href)="([^"]+)"', html)
    assert sources and all(src.startswith("/static/") for src in sources)


def test_every_response_carries_a_policy_with_same_origin_scripts_only(client, root, waiting):
    """The admin and the API docs too (they need inline styles, never inline scripts), API
    answers and error pages."""
    client.force_login(root)
    responses = {
        "admin index": client.get("/admin/"),
        "admin change form": client.get(f"/admin/processes/project/{waiting.project.pk}/change/"),
        "API docs": client.get("/api/v1/docs/"),
        "API docs script": client.get("/api/v1/docs/?script="),
        "API JSON": client.get("/api/v1/deployments/"),
        "page not found": client.get("/no-such-page/"),
        "API not found": client.get("/api/v1/deployments/999999/"),
    }
    for name, response in responses.items():
        policy = response["Content-Security-Policy"]
        assert "script-src 'self';" in policy, name
        assert "frame-ancestors 'none'" in policy, name
    for name in ("admin index", "admin change form", "API docs"):
        html = responses[name].content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), name
        assert not re.search(r"\son[a-z]+=", html), name
    assert "unsafe-inline" not in responses["API JSON"]["Content-Security-Policy"]
