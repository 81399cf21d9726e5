"""Atlassian Document Format → plain text and safe HTML, as Jira REST v3 returns descriptions, comments and
multi-line custom fields."""

from __future__ import annotations

import pytest

from connector.adf import adf_to_html, adf_to_text


def doc(*blocks):
    return {"type": "doc", "version": 1, "content": list(blocks)}


def t(text, *marks):
    node = {"type": "text", "text": text}
    if marks:
        node["marks"] = [m if isinstance(m, dict) else {"type": m} for m in marks]
    return node


def link(href):
    return {"type": "link", "attrs": {"href": href}}


def p(*inline):
    return {"type": "paragraph", "content": list(inline)}


def node(type_, *content, **attrs):
    result = {"type": type_, "content": list(content)}
    if attrs:
        result["attrs"] = attrs
    return result


def leaf(type_, **attrs):
    return {"type": type_, "attrs": attrs}


def li(*blocks):
    return node("listItem", *blocks)


def both(document):
    return adf_to_text(document), adf_to_html(document)


# --- paragraphs and marks -----------------------------------------------------------------------------------


def test_paragraphs_are_separated_by_a_blank_line_and_hard_breaks_are_newlines():
    document = doc(p(t("First line"), {"type": "hardBreak"}, t("second line")), p(t("Next paragraph")))
    assert both(document) == (
        "First line\nsecond line\n\nNext paragraph",
        "<p>First line<br>second line</p><p>Next paragraph</p>",
    )


def test_marks_are_tags_in_html_and_plain_in_text():
    document = doc(
        p(
            t("b", "strong"),
            t("i", "em"),
            t("c", "code"),
            t("s", "strike"),
            t("u", "underline"),
            t("2", {"type": "subsup", "attrs": {"type": "sup"}}),
            t("red", {"type": "textColor", "attrs": {"color": "#ff0000"}}),
            t("both", "strong", "em"),
        )
    )
    assert both(document) == (
        "bicsu2redboth",
        "<p><strong>b</strong><em>i</em><code>c</code><s>s</s><u>u</u>2red<em><strong>both</strong></em></p>",
    )


def test_links_show_their_url_in_text_when_it_differs_from_the_text():
    document = doc(
        p(t("See "), t("the docs", link("https://example.com/docs?a=1&b=2")), t(".")),
        p(t("https://example.com", link("https://example.com"))),
        p(t("Mail ", link("mailto:help@example.com")), t("us", "strong", link("mailto:help@example.com"))),
    )
    text, html = both(document)
    assert text == (
        "See the docs (https://example.com/docs?a=1&b=2).\n\nhttps://example.com\n\nMail us (mailto:help@example.com)"
    )
    assert html == (
        '<p>See <a href="https://example.com/docs?a=1&amp;b=2" rel="noopener noreferrer">the docs</a>.</p>'
        '<p><a href="https://example.com" rel="noopener noreferrer">https://example.com</a></p>'
        '<p><a href="mailto:help@example.com" rel="noopener noreferrer">Mail </a>'
        '<a href="mailto:help@example.com" rel="noopener noreferrer"><strong>us</strong></a></p>'
    )


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "/relative/path",
        "",
    ],
)
def test_unsafe_links_render_their_text_only(href):
    assert both(doc(p(t("click", link(href))))) == ("click", "<p>click</p>")


def test_text_and_attributes_are_escaped_and_raw_html_never_passes_through():
    document = doc(
        p(t('<script>alert("x")</script> & <b>bold</b>')),
        {"type": "html", "text": "<img src=x onerror=alert(1)>"},
        p(t("q", link('https://example.com/"><script>'))),
    )
    assert adf_to_html(document) == (
        "<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;</p>"
        "&lt;img src=x onerror=alert(1)&gt;"
        '<p><a href="https://example.com/&quot;&gt;&lt;script&gt;" rel="noopener noreferrer">q</a></p>'
    )
    assert adf_to_text(document) == (
        '<script>alert("x")</script> & <b>bold</b>\n\n<img src=x onerror=alert(1)>\n\n'
        'q (https://example.com/"><script>)'
    )


# --- blocks -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5, 6])
def test_headings(level):
    assert both(doc(node("heading", t("Title"), level=level), p(t("Body")))) == (
        "Title\n\nBody",
        f"<h{level}>Title</h{level}><p>Body</p>",
    )


def test_heading_with_a_bad_level_is_clamped():
    assert adf_to_html(doc(node("heading", t("A"), level=9), node("heading", t("B"), level="x"))) == (
        "<h6>A</h6><h1>B</h1>"
    )


def test_nested_lists():
    document = doc(
        node(
            "bulletList",
            li(p(t("one")), node("orderedList", li(p(t("a"))), li(p(t("b")), node("bulletList", li(p(t("deep"))))))),
            li(p(t("two"))),
        ),
        node("orderedList", li(p(t("third"))), li(p(t("fourth"))), order=3),
    )
    text, html = both(document)
    assert text == "- one\n  1. a\n  2. b\n    - deep\n- two\n\n3. third\n4. fourth"
    assert html == (
        "<ul><li><p>one</p><ol><li><p>a</p></li><li><p>b</p><ul><li><p>deep</p></li></ul></li></ol></li>"
        "<li><p>two</p></li></ul>"
        '<ol start="3"><li><p>third</p></li><li><p>fourth</p></li></ol>'
    )


def test_list_item_with_two_paragraphs_keeps_them_in_the_item():
    assert adf_to_text(doc(node("bulletList", li(p(t("a")), p(t("b")))))) == "- a\n  b"


def test_code_block_is_fenced_with_its_language():
    document = doc(node("codeBlock", t("if a < b:\n    print('x')"), language="python"), node("codeBlock", t("x")))
    text, html = both(document)
    assert text == "```python\nif a < b:\n    print('x')\n```\n\n```\nx\n```"
    assert html == (
        '<pre><code class="language-python">if a &lt; b:\n    print(&#x27;x&#x27;)</code></pre>'
        "<pre><code>x</code></pre>"
    )


def test_code_block_language_that_is_not_a_plain_name_is_left_out_of_html():
    assert adf_to_html(doc(node("codeBlock", t("x"), language='a" onclick="b'))) == "<pre><code>x</code></pre>"


def test_blockquote_prefixes_every_line():
    document = doc(node("blockquote", p(t("first"), {"type": "hardBreak"}, t("second")), p(t("third"))))
    assert both(document) == (
        "> first\n> second\n>\n> third",
        "<blockquote><p>first<br>second</p><p>third</p></blockquote>",
    )


def test_rule_and_panel():
    document = doc(p(t("above")), {"type": "rule"}, node("panel", p(t("Note")), panelType="info"))
    assert both(document) == ("above\n\n---\n\nNote", "<p>above</p><hr><p>Note</p>")


def test_table_rows_of_cells():
    document = doc(
        node(
            "table",
            node("tableRow", node("tableHeader", p(t("Name"))), node("tableHeader", p(t("Count")))),
            node("tableRow", node("tableCell", p(t("apples")), p(t("red"))), node("tableCell", p(t("3")))),
        )
    )
    text, html = both(document)
    assert text == "Name | Count\napples red | 3"
    assert html == (
        "<table><tr><th><p>Name</p></th><th><p>Count</p></th></tr>"
        "<tr><td><p>apples</p><p>red</p></td><td><p>3</p></td></tr></table>"
    )


def test_expand_renders_its_title_then_its_content():
    document = doc(
        node("expand", p(t("hidden")), title="Details"),
        node("nestedExpand", p(t("inner")), title="<More>"),
    )
    assert both(document) == (
        "Details\nhidden\n\n<More>\ninner",
        "<p><strong>Details</strong></p><p>hidden</p><p><strong>&lt;More&gt;</strong></p><p>inner</p>",
    )


def test_task_and_decision_lists():
    document = doc(
        node(
            "taskList",
            node("taskItem", t("ship it"), state="DONE"),
            node("taskItem", t("write docs"), state="TODO"),
            node("taskList", node("taskItem", t("sub task"), state="TODO")),
        ),
        node("decisionList", node("decisionItem", t("use Postgres"), state="DECIDED")),
    )
    text, html = both(document)
    assert text == "[x] ship it\n[ ] write docs\n  [ ] sub task\n\n- use Postgres"
    assert html == (
        "<ul><li>[x] ship it</li><li>[ ] write docs</li><li><ul><li>[ ] sub task</li></ul></li></ul>"
        "<ul><li>use Postgres</li></ul>"
    )


# --- inline nodes -------------------------------------------------------------------------------------------


def test_mention_emoji_date_and_status():
    document = doc(
        p(
            leaf("mention", id="5b10a2844c20165700ede21g", text="@Jane"),
            t(" "),
            leaf("emoji", shortName=":smile:", text="😄"),
            leaf("emoji", shortName=":wave:"),
            t(" "),
            leaf("date", timestamp="1582152559000"),
            t(" "),
            leaf("status", text="IN PROGRESS", color="blue"),
            t(" "),
            leaf("mention", id="5b10"),
        )
    )
    assert both(document) == (
        "@Jane 😄:wave: 2020-02-19 IN PROGRESS @unknown user",
        "<p>@Jane 😄:wave: 2020-02-19 IN PROGRESS @unknown user</p>",
    )


def test_date_is_the_utc_day_of_a_millisecond_timestamp():
    # 2026-03-01T23:30:00Z: still 1 March in UTC whatever the server's zone
    assert adf_to_text(doc(p(leaf("date", timestamp=1772407800000)))) == "2026-03-01"
    assert adf_to_text(doc(p(leaf("date", timestamp="soon")))) == "soon"


def test_cards_link_to_their_url():
    document = doc(
        p(t("see "), leaf("inlineCard", url="https://example.atlassian.net/browse/SUP-1")),
        leaf("blockCard", url="https://example.com/page"),
        leaf("blockCard", url="javascript:alert(1)"),
    )
    text, html = both(document)
    assert text == "see https://example.atlassian.net/browse/SUP-1\n\nhttps://example.com/page\n\njavascript:alert(1)"
    assert html == (
        '<p>see <a href="https://example.atlassian.net/browse/SUP-1" rel="noopener noreferrer">'
        "https://example.atlassian.net/browse/SUP-1</a></p>"
        '<p><a href="https://example.com/page" rel="noopener noreferrer">https://example.com/page</a></p>'
        "<p>javascript:alert(1)</p>"
    )


def test_media_renders_as_an_attachment_placeholder():
    document = doc(
        node("mediaSingle", leaf("media", id="abc", type="file", collection="x", alt="screenshot.png")),
        node("mediaGroup", leaf("media", id="1", type="file"), leaf("media", id="2", type="file", alt="<log>.txt")),
    )
    assert both(document) == (
        "[attachment: screenshot.png]\n\n[attachment]\n[attachment: <log>.txt]",
        "<p>[attachment: screenshot.png]</p><p>[attachment]<br>[attachment: &lt;log&gt;.txt]</p>",
    )


# --- unknown and malformed input ----------------------------------------------------------------------------


def test_unknown_nodes_render_their_children():
    document = doc(
        node("layoutSection", node("layoutColumn", p(t("left"))), node("layoutColumn", p(t("right")))),
        p(t("a "), node("inlineThing", t("inside")), {"type": "placeholder", "text": "typed"}),
    )
    assert both(document) == ("left\n\nright\n\na insidetyped", "<p>left</p><p>right</p><p>a insidetyped</p>")


@pytest.mark.parametrize(
    ("value", "text", "html"),
    [
        (None, "", ""),
        (42, "", ""),
        ({}, "", ""),
        ({"type": "doc", "content": []}, "", ""),
        ({"type": "doc", "content": "not a list"}, "", ""),
        ({"type": "doc", "content": [None, 3, "x", [], p(t("kept"))]}, "kept", "<p>kept</p>"),
        ({"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": 5}]}]}, "", ""),
        ({"type": "doc", "content": [{"type": "heading", "attrs": "bad", "content": [t("H")]}]}, "H", "<h1>H</h1>"),
        ({"type": "doc", "content": [{"type": "text", "text": "x", "marks": "bold"}]}, "x", "x"),
        ({"type": "doc", "content": [{"type": "text", "text": "x", "marks": [None, {"type": "link"}]}]}, "x", "x"),
        (
            {"type": "doc", "content": [node("orderedList", li(p(t("x"))), order="three")]},
            "1. x",
            "<ol><li><p>x</p></li></ol>",
        ),
        ([p(t("bare content list"))], "bare content list", "<p>bare content list</p>"),
    ],
)
def test_malformed_input_never_raises(value, text, html):
    assert both(value) == (text, html)


def test_plain_string_is_text_as_it_is_and_escaped_paragraphs_in_html():
    value = "Hello <team>,\nline two\r\n\r\nBye & thanks"
    assert adf_to_text(value) == value
    assert adf_to_html(value) == "<p>Hello &lt;team&gt;,<br>line two</p><p>Bye &amp; thanks</p>"


def test_absurdly_deep_nesting_is_cut_off_instead_of_overflowing():
    deep = p(t("bottom"))
    for _ in range(5000):
        deep = node("blockquote", deep)
    text, html = both(doc(deep))
    assert text == "" and html == ""
    shallow = doc(node("blockquote", node("blockquote", p(t("q")))))
    assert both(shallow) == ("> > q", "<blockquote><blockquote><p>q</p></blockquote></blockquote>")
