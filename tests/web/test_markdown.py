"""User Markdown is rendered, and sanitised, by one helper."""

import pytest
from django.template import Context, Template
from django.urls import reverse

from relman.markdown import render_markdown


def test_renders_formatting_lists_code_and_tables():
    html = render_markdown("**bold** and `code`\n\n1. one\n2. two\n\n| a | b |\n|:--|--:|\n| 1 | 2 |")
    assert "<strong>bold</strong>" in html
    assert "<code>code</code>" in html
    assert "<ol>" in html and "<li>one</li>" in html
    assert '<th align="left">a</th>' in html
    assert "style=" not in html


def test_keeps_line_breaks_of_pasted_output():
    assert "42 passed<br>\n0 failed<br>\nPASS" in render_markdown("42 passed\n0 failed\nPASS")


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="#" onclick="alert(1)">x</a>',
        "<iframe src='https://evil.example'></iframe>",
        "<style>body{display:none}</style>",
        '<p style="color:red">x</p>',
        "<svg onload=alert(1)></svg>",
    ],
)
def test_strips_scripts_handlers_and_styles(text):
    html = render_markdown(text)
    for forbidden in (
        "<script",
        "alert(1)",
        "onerror",
        "onclick",
        "<iframe",
        "<style",
        "style=",
        "<svg",
        "<img",
    ):
        assert forbidden not in html


@pytest.mark.parametrize(
    "link",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](vbscript:msgbox)",
        '<a href="javascript:alert(1)">x</a>',
    ],
)
def test_strips_links_that_are_not_http_https_or_mailto(link):
    html = render_markdown(link)
    assert "href" not in html
    assert "javascript" not in html.lower()


def test_keeps_safe_links_with_rel_noopener():
    html = render_markdown("[docs](https://example.com/a?b=1) and <mailto:dba@example.com>")
    assert 'href="https://example.com/a?b=1"' in html
    assert 'rel="noopener noreferrer"' in html
    assert "mailto:" in html


def test_empty_text_is_empty():
    assert render_markdown("") == ""
    assert render_markdown(None) == ""


def test_template_filter_is_the_helper():
    html = Template("{% load relman_tags %}{{ text|markdown }}").render(
        Context({"text": "*hi* <script>x()</script>"})
    )
    assert html == str(render_markdown("*hi* <script>x()</script>"))
    assert "<em>hi</em>" in html and "<script" not in html


def test_notes_on_a_page_are_sanitised(signed_in, sarah, backup, waiting, engine):
    from releases.services import interruption_submit

    with engine():
        interruption_submit(
            interruption=backup,
            actor=sarah,
            result="proceed",
            notes="done <script>alert('x')</script> [y](javascript:alert(2))",
        )
    html = signed_in(sarah).get(waiting.get_absolute_url()).content.decode()
    assert "<script>alert" not in html
    assert "javascript:alert(2)" not in html.split('<ol class="log"')[0]
    # the task log shows what was written, as text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_release_notes_are_sanitised(signed_in, root, octopus):
    from releases.services import release_create

    release = release_create(
        project=octopus.project, version="5.0.0", notes="<img src=x onerror=alert(1)>**ok**", actor=root
    )
    html = signed_in(root).get(reverse("releases:release_detail", args=[release.pk])).content.decode()
    assert "onerror" not in html
    assert "<strong>ok</strong>" in html
