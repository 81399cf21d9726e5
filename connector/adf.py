"""Atlassian Document Format (as Jira REST v3 returns descriptions, comments and multi-line fields) rendered
as plain text or as safe HTML for a helpdesk.

Each output is one recursive renderer with one dispatch table (node type → function). Nodes the tables do
not know render their children (or their ``text``); malformed input (None, strings, non-dict nodes, missing
attributes, absurd nesting) renders what it can and never raises. The HTML output escapes every text and
attribute, uses only a few harmless tags, and links only to http, https and mailto addresses.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

__all__ = ["adf_to_html", "adf_to_text"]

_MAX_DEPTH = 64  # Jira nests far less; deeper input is cut off rather than overflowing the stack
_SAFE_SCHEMES = {"http", "https", "mailto"}
_LANGUAGE = re.compile(r"[A-Za-z0-9_+#.-]{1,40}")
_BLOCKS = {
    "doc",
    "paragraph",
    "heading",
    "bulletList",
    "orderedList",
    "listItem",
    "codeBlock",
    "blockquote",
    "rule",
    "panel",
    "table",
    "tableRow",
    "tableHeader",
    "tableCell",
    "mediaSingle",
    "mediaGroup",
    "blockCard",
    "embedCard",
    "expand",
    "nestedExpand",
    "taskList",
    "taskItem",
    "decisionList",
    "decisionItem",
}

_INLINE = {"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status", "media", "mediaInline"}


def adf_to_text(doc: Any) -> str:
    """Plain text: blank lines between paragraphs, ``- `` / ``1. `` list items indented two spaces per level,
    fenced code blocks, ``> `` quotes, ``text (url)`` links and ``a | b`` table rows. A string is returned as
    it is; None and unreadable input give ``""``."""
    if isinstance(doc, str):
        return doc
    return _text(_root(doc), 0).strip("\n")


def adf_to_html(doc: Any) -> str:
    """Safe HTML (escaped text; p, br, strong, em, code, pre, s, u, a, ul, ol, li, h1-h6, blockquote, hr and
    table tags only). A string becomes escaped paragraphs; None and unreadable input give ``""``."""
    if isinstance(doc, str):
        return _string_to_html(doc)
    return _html(_root(doc), 0)


# --- reading nodes ------------------------------------------------------------------------------------------


def _root(doc: Any) -> dict[str, Any]:
    if isinstance(doc, dict):
        return doc
    if isinstance(doc, list):  # a bare content list
        return {"type": "doc", "content": doc}
    return {}


def _type(node: dict[str, Any]) -> str:
    kind = node.get("type")
    return kind if isinstance(kind, str) else ""


def _attrs(node: dict[str, Any]) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _attr(node: dict[str, Any], *names: str) -> str:
    """The first non-empty attribute of ``names`` as a string ("" when none)."""
    attrs = _attrs(node)
    for name in names:
        value = attrs.get(name)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and str(value):
            return str(value)
    return ""


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    content = node.get("content")
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


def _is_block(node: dict[str, Any], depth: int = 0) -> bool:
    """A known block node, or an unknown node holding blocks (e.g. a layout column of paragraphs)."""
    kind = _type(node)
    if kind in _BLOCKS:
        return True
    if kind in _INLINE or depth > 8:
        return False
    return any(_is_block(c, depth + 1) for c in _children(node))


def _has_blocks(node: dict[str, Any]) -> bool:
    return any(_is_block(c) for c in _children(node))


def _marks(node: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    marks = node.get("marks")
    if not isinstance(marks, list):
        return []
    return [(_type(m), _attrs(m)) for m in marks if isinstance(m, dict)]


def _link(node: dict[str, Any]) -> str:
    """The href of a text node's link mark ("" when none)."""
    for kind, attrs in _marks(node):
        if kind == "link" and isinstance(attrs.get("href"), str):
            return attrs["href"]
    return ""


def _safe_url(url: str) -> str | None:
    """The URL when it is an absolute http, https or mailto address; None otherwise (javascript:, data:,
    relative or unparsable)."""
    url = url.strip()
    if not url or any(ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return url if scheme in _SAFE_SCHEMES else None


def _card_url(node: dict[str, Any]) -> str:
    url = _attr(node, "url")
    if not url:  # a blockCard may carry JSON-LD data instead of a url
        data = _attrs(node).get("data")
        if isinstance(data, dict) and isinstance(data.get("url"), str):
            url = data["url"]
    return url


def _date(node: dict[str, Any]) -> str:
    stamp = _attr(node, "timestamp")
    try:
        return datetime.fromtimestamp(int(float(stamp)) / 1000, tz=UTC).strftime("%Y-%m-%d")
    except (ValueError, OverflowError, OSError):
        return stamp


def _mention(node: dict[str, Any]) -> str:
    return _attr(node, "text") or "@unknown user"


def _emoji(node: dict[str, Any]) -> str:
    return _attr(node, "text", "shortName")


def _media(node: dict[str, Any]) -> str:
    name = _attr(node, "alt", "__fileName", "fileName", "filename", "name")
    return f"[attachment: {name}]" if name else "[attachment]"


def _order(node: dict[str, Any]) -> int:
    try:
        return max(int(_attrs(node).get("order", 1)), 0)
    except (TypeError, ValueError):
        return 1


def _level(node: dict[str, Any]) -> int:
    try:
        return min(max(int(_attrs(node).get("level", 1)), 1), 6)
    except (TypeError, ValueError):
        return 1


def _done(node: dict[str, Any]) -> bool:
    return str(_attrs(node).get("state", "")).upper() == "DONE"


# --- plain text ---------------------------------------------------------------------------------------------

Render = Callable[[dict[str, Any], int], str]


def _text(node: dict[str, Any], depth: int) -> str:
    if depth > _MAX_DEPTH:
        return ""
    return _TEXT.get(_type(node), _t_unknown)(node, depth)


def _t_blocks(node: dict[str, Any], depth: int, sep: str = "\n\n") -> str:
    return sep.join(part for part in (_text(c, depth + 1) for c in _children(node)) if part)


def _t_inline(node: dict[str, Any], depth: int) -> str:
    """Inline children; consecutive text nodes under one link become ``text (url)`` once."""
    out: list[str] = []
    run: list[str] = []
    href = ""

    def flush() -> None:
        label = "".join(run)
        url = _safe_url(href) if href else None
        out.append(f"{label} ({url})" if url and label and label != url else label)
        run.clear()

    for child in _children(node):
        child_href = _link(child) if _type(child) == "text" else ""
        if child_href != href:
            flush()
            href = child_href
        run.append(_text(child, depth + 1))
    flush()
    return "".join(out)


def _t_content(node: dict[str, Any], depth: int) -> str:
    return _t_blocks(node, depth) if _has_blocks(node) else _t_inline(node, depth)


def _t_unknown(node: dict[str, Any], depth: int) -> str:
    text = node.get("text")
    return text if isinstance(text, str) and not _children(node) else _t_content(node, depth)


def _indent(body: str, first: str, rest: str) -> str:
    """``first`` before the first line of ``body``, ``rest`` before the others (blank lines stay blank)."""
    lines = body.split("\n")
    head = f"{first}{lines[0]}" if lines[0] else first.rstrip()
    return "\n".join([head, *(f"{rest}{line}" if line else "" for line in lines[1:])])


def _t_list(node: dict[str, Any], depth: int) -> str:
    start = _order(node) if _type(node) == "orderedList" else None
    items = []
    for i, item in enumerate(_children(node)):
        marker = f"{start + i}. " if start is not None else "- "
        items.append(_indent(_text(item, depth + 1), marker, "  "))
    return "\n".join(items)


def _t_task_list(node: dict[str, Any], depth: int) -> str:
    """Task (and decision) items one per line; a list nested in the list is indented."""
    lines = []
    for child in _children(node):
        body = _text(child, depth + 1)
        lines.append(_indent(body, "  ", "  ") if _type(child) == _type(node) else body)
    return "\n".join(line for line in lines if line)


def _t_code(node: dict[str, Any], depth: int) -> str:
    language = _attr(node, "language")
    code = "".join(c.get("text", "") for c in _children(node) if isinstance(c.get("text"), str))
    return f"```{language}\n{code}\n```"


def _t_quote(node: dict[str, Any], depth: int) -> str:
    body = _t_blocks(node, depth)
    return "\n".join(f"> {line}" if line else ">" for line in body.split("\n")) if body else ""


def _t_table(node: dict[str, Any], depth: int) -> str:
    rows = []
    for row in _children(node):
        cells = [_one_line(_t_content(cell, depth + 2)) for cell in _children(row)]
        rows.append(" | ".join(cells))
    return "\n".join(rows)


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in text.split("\n") if line.strip())


def _t_expand(node: dict[str, Any], depth: int) -> str:
    return "\n".join(part for part in (_attr(node, "title"), _t_blocks(node, depth)) if part)


_TEXT: dict[str, Render] = {
    "doc": _t_blocks,
    "paragraph": _t_inline,
    "heading": _t_inline,
    "text": lambda n, d: n["text"] if isinstance(n.get("text"), str) else "",
    "hardBreak": lambda n, d: "\n",
    "bulletList": _t_list,
    "orderedList": _t_list,
    "listItem": lambda n, d: _t_blocks(n, d, "\n") if _has_blocks(n) else _t_inline(n, d),
    "codeBlock": _t_code,
    "blockquote": _t_quote,
    "rule": lambda n, d: "---",
    "panel": _t_content,
    "table": _t_table,
    "mention": lambda n, d: _mention(n),
    "emoji": lambda n, d: _emoji(n),
    "inlineCard": lambda n, d: _card_url(n),
    "blockCard": lambda n, d: _card_url(n),
    "embedCard": lambda n, d: _card_url(n),
    "date": lambda n, d: _date(n),
    "status": lambda n, d: _attr(n, "text"),
    "media": lambda n, d: _media(n),
    "mediaInline": lambda n, d: _media(n),
    "mediaSingle": lambda n, d: _t_blocks(n, d, "\n"),
    "mediaGroup": lambda n, d: _t_blocks(n, d, "\n"),
    "expand": _t_expand,
    "nestedExpand": _t_expand,
    "taskList": _t_task_list,
    "taskItem": lambda n, d: ("[x] " if _done(n) else "[ ] ") + _t_inline(n, d),
    "decisionList": _t_task_list,
    "decisionItem": lambda n, d: "- " + _t_inline(n, d),
}


# --- HTML ---------------------------------------------------------------------------------------------------

_MARK_TAGS = {"strong": "strong", "em": "em", "code": "code", "strike": "s", "underline": "u"}


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _a(url: str, label_html: str) -> str:
    """A link to a safe URL, or the label alone."""
    safe = _safe_url(url)
    if safe is None:
        return label_html
    return f'<a href="{_esc(safe)}" rel="noopener noreferrer">{label_html}</a>'


def _html(node: dict[str, Any], depth: int) -> str:
    if depth > _MAX_DEPTH:
        return ""
    return _HTML.get(_type(node), _h_unknown)(node, depth)


def _h_children(node: dict[str, Any], depth: int) -> str:
    return "".join(_html(c, depth + 1) for c in _children(node))


def _wrap(tag: str, render: Render = _h_children, *, keep_empty: bool = False) -> Render:
    def wrapped(node: dict[str, Any], depth: int) -> str:
        inner = render(node, depth)
        return f"<{tag}>{inner}</{tag}>" if inner or keep_empty else ""

    return wrapped


def _h_unknown(node: dict[str, Any], depth: int) -> str:
    text = node.get("text")
    return _esc(text) if isinstance(text, str) and not _children(node) else _h_children(node, depth)


def _h_text(node: dict[str, Any], depth: int) -> str:
    text = node.get("text")
    out = _esc(text) if isinstance(text, str) else ""
    if not out:
        return ""
    for kind, _ in _marks(node):  # subsup, textColor and unknown marks keep the text unstyled
        if kind in _MARK_TAGS:
            out = f"<{_MARK_TAGS[kind]}>{out}</{_MARK_TAGS[kind]}>"
    href = _link(node)
    return _a(href, out) if href else out


def _h_heading(node: dict[str, Any], depth: int) -> str:
    return _wrap(f"h{_level(node)}")(node, depth)


def _h_ordered(node: dict[str, Any], depth: int) -> str:
    start = _order(node)
    items = _h_children(node, depth)
    return f'<ol start="{start}">{items}</ol>' if start != 1 else f"<ol>{items}</ol>"


def _h_code(node: dict[str, Any], depth: int) -> str:
    language = _attr(node, "language")
    code = "".join(_esc(c["text"]) for c in _children(node) if isinstance(c.get("text"), str))
    css = f' class="language-{_esc(language)}"' if _LANGUAGE.fullmatch(language) else ""
    return f"<pre><code{css}>{code}</code></pre>"


def _h_card(node: dict[str, Any], depth: int) -> str:
    url = _card_url(node)
    return _a(url, _esc(url)) if url else ""


def _h_task_list(node: dict[str, Any], depth: int) -> str:
    items = [
        f"<li>{_html(c, depth + 1)}</li>" if _type(c) == _type(node) else _html(c, depth + 1) for c in _children(node)
    ]
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _h_expand(node: dict[str, Any], depth: int) -> str:
    title = _attr(node, "title")
    return (f"<p><strong>{_esc(title)}</strong></p>" if title else "") + _h_children(node, depth)


def _inline_text(render: Callable[[dict[str, Any]], str]) -> Render:
    return lambda n, d: _esc(render(n))


_HTML: dict[str, Render] = {
    "doc": _h_children,
    "paragraph": _wrap("p"),
    "heading": _h_heading,
    "text": _h_text,
    "hardBreak": lambda n, d: "<br>",
    "bulletList": _wrap("ul"),
    "orderedList": _h_ordered,
    "listItem": _wrap("li", keep_empty=True),
    "codeBlock": _h_code,
    "blockquote": _wrap("blockquote"),
    "rule": lambda n, d: "<hr>",
    "panel": _h_children,
    "table": _wrap("table"),
    "tableRow": _wrap("tr", keep_empty=True),
    "tableHeader": _wrap("th", keep_empty=True),
    "tableCell": _wrap("td", keep_empty=True),
    "mention": _inline_text(_mention),
    "emoji": _inline_text(_emoji),
    "inlineCard": _h_card,
    "blockCard": _wrap("p", _h_card),
    "embedCard": _wrap("p", _h_card),
    "date": _inline_text(_date),
    "status": _inline_text(lambda n: _attr(n, "text")),
    "media": _inline_text(_media),
    "mediaInline": _inline_text(_media),
    "mediaSingle": _wrap("p"),
    "mediaGroup": _wrap("p", lambda n, d: "<br>".join(_html(c, d + 1) for c in _children(n))),
    "expand": _h_expand,
    "nestedExpand": _h_expand,
    "taskList": _h_task_list,
    "taskItem": _wrap("li", lambda n, d: ("[x] " if _done(n) else "[ ] ") + _h_children(n, d), keep_empty=True),
    "decisionList": _h_task_list,
    "decisionItem": _wrap("li", keep_empty=True),
}


def _string_to_html(text: str) -> str:
    """Plain text as escaped paragraphs: a blank line separates paragraphs, a newline is a ``<br>``."""
    blocks = text.replace("\r\n", "\n").split("\n\n")
    return "".join(
        "<p>" + "<br>".join(_esc(line) for line in block.split("\n")) + "</p>" for block in blocks if block.strip()
    )
