"""The HTML report in a real browser (Debian's chromium, headless, `tests/browser.py`): every image loads,
the console stays free of errors, and a screenshot of the page is kept (its path is printed; pytest
keeps the last three runs' tmp directories)."""

from __future__ import annotations

import numpy as np
import pytest
from browser import find_chromium, open_page
from test_report import SIZES, fake_run

from astraios.analysis import build_report

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed: `make system-deps` (run by `make test`) installs Debian's "
                             "chromium with apt, which needs root or sudo; without them it cannot be installed here")
PNG = b"\x89PNG\r\n\x1a\n"


def test_the_html_report_loads_every_image_without_console_errors(tmp_path):
    rng = np.random.default_rng(1)
    for model in ("m1", "m3", "m7"):
        for method, skill, trainable in (("full", 0.6, SIZES[model]), ("lora", 0.4, SIZES[model] // 50)):
            fake_run(tmp_path / "runs", model, method, 2.0 - skill, None, trainable=trainable,
                     passed=(rng.random(30) < skill).astype(int).tolist())
        fake_run(tmp_path / "runs", model, "full", 3.0, None, trainable=SIZES[model],
                 passed=(rng.random(30) < 0.2).astype(int).tolist(), kind="base")
    report = build_report(tmp_path / "runs", tmp_path / "report")
    page = open_page(CHROMIUM, tmp_path / "report" / "index.html", tmp_path / "profile", tmp_path / "report.png")
    print(f"screenshot of the report in chromium: {page.screenshot}")
    assert page.title == f"astraios report: {tmp_path / 'runs'}"
    assert [image["src"] for image in page.images] == [f"figures/{spec.name}.png" for spec in report.figures]
    assert all(image["complete"] and image["naturalWidth"] > 0 and image["naturalHeight"] > 0
               for image in page.images), page.images
    assert page.errors == [], page.log
    assert page.screenshot.read_bytes().startswith(PNG) and page.screenshot.stat().st_size > 10_000


def test_the_browser_check_sees_a_missing_image_and_console_errors(tmp_path):
    """The check can fail: a page with a broken image and a failing script is caught on every count."""
    page_path = tmp_path / "broken.html"
    page_path.write_text('<!DOCTYPE html><html><head><title>broken</title></head><body>'
                         '<img src="figures/missing.png" alt="missing">'
                         '<script>console.error("drawn wrong"); undefined_function();</script></body></html>')
    page = open_page(CHROMIUM, page_path, tmp_path / "profile", tmp_path / "broken.png")
    assert page.title == "broken"
    assert page.images == [{"src": "figures/missing.png", "complete": True, "naturalWidth": 0, "naturalHeight": 0}]
    joined = "\n".join(page.errors)
    assert "console.error: drawn wrong" in joined
    assert "undefined_function is not defined" in joined
    assert "ERR_FILE_NOT_FOUND" in joined and "missing.png" in joined
