"""The built docs site makes no request outside itself: every page's fonts, scripts and styles come from the site
(system fonts, no CDN scripts on the notebook pages). Built with `mkdocs build`, served on 127.0.0.1 and opened
in Chromium with every request recorded."""

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["", "guides/getting-started/", "guides/seeing-noise/", "notebooks/bn-noise-drawn/",
         "notebooks/input-distribution/", "reference/tinygrad_bn/"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built as `make docs` builds it, served from a local HTTP server."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    handler = functools.partial(_Quiet, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield out, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.parametrize("page", PAGES)
def test_a_page_requests_nothing_outside_the_site(browser, site, page):
    out, base = site
    assert (out / page / "index.html").exists()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    outside, inside, errors = [], [], []

    def route(r):
        if r.request.url.startswith(base) or r.request.url.startswith(("data:", "blob:")):
            inside.append(r.request.url)
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    p = context.new_page()
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(base + page, wait_until="networkidle")
    family = p.evaluate("getComputedStyle(document.body).fontFamily")
    context.close()
    assert outside == [], f"{page or 'index'} requested {outside}"
    assert errors == [], errors
    assert any(u.endswith(".css") for u in inside)  # the page did load its own assets
    assert "Roboto" not in family  # the system font stack, not a web font that would have been fetched


def test_no_page_of_the_site_links_a_script_font_or_style_from_elsewhere(site):
    out, _ = site
    pattern = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"(?:https?:)?//[^\"]+\"[^>]*>")
    found = {}
    for page in out.rglob("*.html"):
        tags = [t for t in pattern.findall(page.read_text()) if not t.startswith("<link rel=\"canonical\"")]
        if tags:
            found[str(page.relative_to(out))] = tags[:3]
    assert found == {}
