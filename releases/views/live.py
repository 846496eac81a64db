"""What the live regions' polls share: the version a region shows, and the answer when
it is still current.

A region's fragment embeds its version in the URL it polls (``?shown=<version>``); the
view reads the current version first (a few cheap queries, selectors ``*_version``) and,
when it is the one shown, answers 204 No Content without reading or rendering the
fragment. htmx swaps nothing on a 204 (its ``responseHandling`` default), so the region
stays as it is and keeps polling. A 304 would not do: the browser hands a 304 to the
script as it comes when the request set its own conditional header, and htmx swaps every
2xx and 3xx but 204, so the region would be emptied. Otherwise the view renders the
fragment with the version it read before the content, and the fragment, which replaces
the whole region (``outerHTML``), polls with that version from then on.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponse
from django.utils.cache import patch_vary_headers

# The query parameter a poll names its region's version with.
SHOWN = "shown"


def with_version(url: str, version: str) -> str:
    """``url`` asking for the region only if it changed from ``version``."""
    return f"{url}{'&' if '?' in url else '?'}{urlencode({SHOWN: version})}"


def live_unchanged() -> HttpResponse:
    """The answer to a poll whose region is current: no content, so htmx leaves it."""
    response = HttpResponse(status=204)
    patch_vary_headers(response, ("HX-Request",))
    return response
