"""The one place user Markdown (step instructions, notes, release notes) becomes HTML.

Text is stored as written; it is rendered with ``markdown`` and then sanitised with
``nh3``, so whatever someone typed, a page only ever gets a small set of formatting tags,
links to http(s) and mailto addresses only, and no scripts, styles or event handlers.
Templates use the ``markdown`` filter (relman.templatetags.relman_tags) and never mark
user text safe themselves.
"""

from __future__ import annotations

import markdown as markdown_lib
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h1", "h2",
        "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub",
        "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
MARKDOWN_EXTENSIONS = ["fenced_code", "tables", "sane_lists", "nl2br"]
# Column alignment as an attribute: a style="" attribute would break the page's
# Content-Security-Policy (and is stripped anyway).
MARKDOWN_EXTENSION_CONFIGS = {"tables": {"use_align_attribute": True}}

_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
    url_schemes=set(URL_SCHEMES),
    url_relative="deny",
    link_rel="noopener noreferrer",
    strip_comments=True,
)


def render_markdown(text: str | None) -> SafeString:
    """Markdown → sanitised HTML, safe to put in a page as it is."""
    if not text:
        return mark_safe("")
    html = markdown_lib.markdown(
        text,
        extensions=MARKDOWN_EXTENSIONS,
        extension_configs=MARKDOWN_EXTENSION_CONFIGS,
        output_format="html",
    )
    return mark_safe(_cleaner.clean(html))
