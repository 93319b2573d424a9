"""Chromium, Playwright and the live server work together on this machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask

from tests.support.live_server import live_server

PAGE = """<!doctype html>
<html><head><title>Harness</title></head>
<body>
  <p id="status">waiting</p>
  <button id="go" onclick="document.getElementById('status').textContent = 'clicked ' + (1 + 1)">
    Go
  </button>
</body></html>"""


def tiny_app() -> Flask:
    """A one-page app whose button changes the text through inline JavaScript."""
    app = Flask(__name__)
    app.add_url_rule("/", "index", lambda: PAGE)
    return app


def test_click_runs_inline_javascript(page, shot):
    """The button's script ran in a real browser: the text changed and a screenshot was saved."""
    with live_server(tiny_app()) as url:
        page.goto(url + "/")
        assert page.title() == "Harness"
        assert page.text_content("#status") == "waiting"
        page.click("#go")
        page.wait_for_function("document.getElementById('status').textContent !== 'waiting'")
        assert page.text_content("#status") == "clicked 2"
        path = shot()
    assert path.name == "test_click_runs_inline_javascript.png"
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


VENDOR = Path(__file__).resolve().parents[2] / "static" / "vendor"
ASSETS_PAGE = """<!doctype html>
<html><head><title>Assets</title>
  <link rel="stylesheet" href="/static/vendor/bootstrap/bootstrap.min.css">
  <link rel="stylesheet" href="/static/vendor/bootstrap-icons/bootstrap-icons.min.css">
  <script src="/static/vendor/htmx.min.js"></script>
  <script src="/static/vendor/bootstrap/bootstrap.bundle.min.js"></script>
  <script src="/static/vendor/chart.umd.min.js"></script>
</head>
<body class="p-3">
  <h1><i class="bi bi-check-circle"></i> Assets</h1>
  <button id="load" class="btn btn-primary" hx-get="/fragment" hx-target="#target">Load</button>
  <div id="target">empty</div>
  <div style="width: 400px"><canvas id="chart"></canvas></div>
  <script>
    window.chart = new Chart(document.getElementById("chart"), {
      type: "bar", options: {animation: false},
      data: {labels: ["a", "b"], datasets: [{label: "n", data: [3, 5]}]},
    });
  </script>
</body></html>"""


def assets_app() -> Flask:
    """Serves the real static/ folder and a page that uses every vendored library."""
    app = Flask(__name__, static_folder=str(VENDOR.parent))
    app.add_url_rule("/", "index", lambda: ASSETS_PAGE)
    app.add_url_rule("/fragment", "fragment", lambda: "<b id='swapped'>from the server</b>")
    return app


def test_vendored_assets_load_and_work(page, shot):
    """make assets produced working htmx, Bootstrap (CSS + JS), icon fonts and Chart.js."""
    if not (VENDOR / "versions.json").exists():
        pytest.fail("static/vendor/ is missing: run `make assets` first", pytrace=False)
    versions = json.loads((VENDOR / "versions.json").read_text())
    broken = []
    page.on("requestfailed", lambda request: broken.append(request.url))
    page.on("response", lambda r: r.status >= 400 and broken.append(f"{r.status} {r.url}"))

    with live_server(assets_app()) as url:
        page.goto(url + "/")
        page.evaluate("document.fonts.ready")
        page.click("#load")
        page.wait_for_selector("#swapped")
        loaded = page.evaluate("""() => ({
                htmx: htmx.version,
                bootstrap: bootstrap.Modal.VERSION,
                chart: Chart.version,
                bars: window.chart.getDatasetMeta(0).data.length,
                iconFont: document.fonts.check("16px bootstrap-icons"),
                padding: getComputedStyle(document.body).paddingTop,
            })""")
        shot()

    assert broken == []
    assert loaded["htmx"] == versions["htmx.org"]
    assert loaded["bootstrap"] == versions["bootstrap"]
    assert loaded["chart"] == versions["chart.js"]
    assert loaded["bars"] == 2
    assert loaded["iconFont"] is True  # the fonts/ folder sits where the CSS expects it
    assert loaded["padding"] == "16px"  # Bootstrap's p-3 utility: its CSS applied
