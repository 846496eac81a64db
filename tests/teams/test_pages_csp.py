"""The people, audit and evidence pages hold to the strict Content-Security-Policy: no
inline script, style or event handler."""

import re

from django.urls import reverse

from teams.services import api_key_create


def test_pages_have_no_inline_script_style_or_handler(signed_in, root, sarah, waiting):
    api_key_create(user=root, purpose="CI", actor=None)
    client = signed_in(root)
    pages = {
        reverse("me"): client.get(reverse("me")),
        reverse("me") + "?user=sarah": client.get(reverse("me"), {"user": "sarah"}),
        reverse("api_key_list"): client.get(reverse("api_key_list")),
        "new key": client.post(reverse("api_key_list"), {"purpose": "x", "expires_in_days": "7"}),
        reverse("audit_list"): client.get(reverse("audit_list")),
        "evidence": client.get(reverse("releases:release_evidence", args=[waiting.release_id])),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        assert "script-src 'self'" in response["Content-Security-Policy"], name
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), name
        assert "<style" not in html, name
        assert not re.search(r"\sstyle=", html), name
        assert not re.search(r"\son[a-z]+=", html), name
