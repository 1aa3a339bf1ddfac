"""The storefront's files: no HTML built from strings, no inline script or style, and the
security headers the native server sends (the compose server sends the same policy)."""

import re
from pathlib import Path

from tools.native.storefront import WEB_ROOT, content_security_policy, security_headers

FORBIDDEN = re.compile(
    r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\("
)


def test_no_module_builds_html_from_strings() -> None:
    modules = sorted(WEB_ROOT.glob("js/**/*.js"))
    assert len(modules) >= 8
    offenders = [
        f"{path.relative_to(WEB_ROOT)}:{number}: {line.strip()}"
        for path in modules
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if FORBIDDEN.search(line) and not line.lstrip().startswith("//")
    ]
    assert offenders == []


def test_index_has_no_inline_script_handler_or_style() -> None:
    html = (WEB_ROOT / "index.html").read_text()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S)
    assert scripts
    assert all(body.strip() == "" for body in scripts)
    assert re.search(r"\son[a-z]+\s*=", html) is None
    assert "style=" not in html
    assert "<style" not in html
    assert 'rel="icon"' in html
    assert (WEB_ROOT / "favicon.svg").exists()


def test_policy_allows_only_this_origin_and_the_apis() -> None:
    urls = {"user": "http://localhost:8001", "product": "https://p.example", "order": "/order"}
    policy = content_security_policy(urls)
    directives = dict(part.split(" ", 1) for part in policy.split("; "))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert directives["connect-src"] == "'self' http://localhost:8001 https://p.example"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy
    headers = security_headers(urls)
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_every_file_the_page_loads_exists() -> None:
    """Each relative import and each asset of index.html is a file (no 404 at run time)."""
    missing = []
    for path in [WEB_ROOT / "index.html", *WEB_ROOT.glob("js/**/*.js")]:
        text = path.read_text()
        for target in re.findall(r'(?:from|import)\s+"(\.{1,2}/[^"]+)"', text) + re.findall(
            r'(?:href|src)="((?!#|http)[^"]+)"', text
        ):
            if not (path.parent / target).resolve().is_file():
                missing.append(f"{path.relative_to(WEB_ROOT)} -> {target}")
    assert missing == []


def test_web_root_is_the_repository_folder() -> None:
    assert Path(__file__).resolve().parents[2] / "web" == WEB_ROOT
