"""Nothing of the demo reaches production: the product's packages never import ``demo``, production settings and
URLs load without it and expose no demo route, Connect's all.js stays Atlassian's whatever the environment says,
and the package built from pyproject leaves ``demo`` out."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import find_namespace_packages

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ["config", "tenants", "connector", "sync", "panel"]
CDN_ALL_JS = "https://connect-cdn.atl-paas.net/all.js"


def demo_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [f"{path}:{node.lineno} {n}" for n in names if n == "demo" or n.startswith("demo.")]
    return found


def test_the_product_never_imports_demo():
    files = [p for package in PRODUCT for p in (ROOT / package).rglob("*.py")]
    assert len(files) > 50  # the walk saw the product
    assert [hit for path in files for hit in demo_imports(path)] == []
    for path in [*ROOT.joinpath("templates").rglob("*.html"), *ROOT.joinpath("panel").rglob("*.js")]:
        assert "/demo/" not in path.read_text(), path  # no page points at the demo's shell or bridge


def test_the_import_check_finds_a_demo_import(tmp_path):
    """The check above can fail: it sees both import forms."""
    sample = tmp_path / "sample.py"
    sample.write_text("import demo.run\nfrom demo.shell import DemoJira\nfrom .demo import x\nimport demolition\n")
    assert len(demo_imports(sample)) == 2


def test_production_settings_and_urls_know_no_demo():
    script = """
import json, sys
import django
django.setup()
from django.conf import settings
from django.urls import Resolver404, get_resolver, resolve

def walk(patterns, prefix=""):
    for p in patterns:
        if hasattr(p, "url_patterns"):
            yield from walk(p.url_patterns, prefix + str(p.pattern))
        else:
            yield prefix + str(p.pattern)

routes = list(walk(get_resolver().url_patterns))
refused = []
for path in ("/demo/all.js", "/demo/context-token", "/demo/helpdesk", "/browse/SUP-1"):
    try:
        resolve(path)
    except Resolver404:
        refused.append(path)
print(json.dumps({
    "all_js": settings.CONNECT_ALL_JS_URL,
    "routes": routes,
    "refused": refused,
    "demo_loaded": sorted(m for m in sys.modules if m == "demo" or m.startswith("demo.")),
}))
"""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEMO_"))},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 50,
        "FIELD_ENCRYPTION_KEY": "dGVzdC1vbmx5LWZlcm5ldC1rZXktMDAwMDAwMDAwMDA=",
        "APP_BASE_URL": "https://deskbridge.example.com",
        "DJANGO_ALLOWED_HOSTS": "deskbridge.example.com",
        "DATABASE_URL": "sqlite:///:memory:",
        # The demo's variable changes nothing outside demo.settings.
        "DEMO_CONNECT_ALL_JS_URL": "http://127.0.0.1:1/demo/all.js",
    }
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["all_js"] == CDN_ALL_JS
    assert facts["demo_loaded"] == []
    assert not [r for r in facts["routes"] if "demo" in r or "browse" in r]
    assert len(facts["routes"]) > 10
    assert facts["refused"] == ["/demo/all.js", "/demo/context-token", "/demo/helpdesk", "/browse/SUP-1"]


def test_the_package_leaves_demo_out():
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = find_namespace_packages(str(ROOT), include=find.get("include", ["*"]), exclude=find.get("exclude", []))
    assert "panel" in packages and "sync" in packages
    assert not [p for p in packages if p == "demo" or p.startswith("demo.")]
