"""Automated accessibility checks for browser tests: axe-core (vendored, see ``vendor/README.md``) injected
into a Playwright page or frame, run against WCAG 2 A and AA, failing on every serious or critical violation.

    from tests.a11y import assert_no_serious_violations
    assert_no_serious_violations(page, name="admin page")
    assert_no_serious_violations(page, context="[role=dialog]", name="link dialog")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

AXE_VERSION = "4.10.2"
AXE_JS = Path(__file__).resolve().parent / "vendor" / f"axe-core-{AXE_VERSION}" / "axe.min.js"
TAGS = ("wcag2a", "wcag2aa")
SERIOUS = ("serious", "critical")

_RUN = """async ([context, tags]) => {
  const results = await axe.run(context === null ? document : context, {
    runOnly: {type: 'tag', values: tags},
    resultTypes: ['violations'],
  });
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target, impact: n.impact, summary: n.failureSummary, html: n.html})),
  }));
}"""


def axe_violations(page_or_frame: Any, *, context: Any = None) -> list[dict[str, Any]]:
    """Every WCAG 2 A/AA violation axe finds in ``page_or_frame`` (a Playwright Page or Frame), within
    ``context`` (a CSS selector or an axe context object; the whole document when None)."""
    if not page_or_frame.evaluate("() => typeof window.axe === 'object' && typeof window.axe.run === 'function'"):
        page_or_frame.add_script_tag(content=AXE_JS.read_text(encoding="utf-8"))
    return page_or_frame.evaluate(_RUN, [context, list(TAGS)])


def format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>")
        for node in v["nodes"]:
            lines.append(f"    at {', '.join(' '.join(t) if isinstance(t, list) else t for t in node['target'])}")
            lines.append(f"       {node['html'][:200]}")
    return "\n".join(lines)


def serious_violations(page_or_frame: Any, *, context: Any = None) -> list[dict[str, Any]]:
    return [v for v in axe_violations(page_or_frame, context=context) if v["impact"] in SERIOUS]


def assert_no_serious_violations(page_or_frame: Any, *, context: Any = None, name: str = "") -> None:
    """Fail the test listing each serious or critical violation (rule id, what it asks, the nodes)."""
    found = serious_violations(page_or_frame, context=context)
    if found:
        where = name or page_or_frame.url
        pytest.fail(
            f"axe-core {AXE_VERSION}: {len(found)} serious or critical accessibility violation(s) in {where}:\n"
            + format_violations(found),
            pytrace=False,
        )
