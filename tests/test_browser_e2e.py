"""End to end in a real browser: JupyterLab + headless Chromium run notebook 08 and move a slider.

The test starts JupyterLab on a free localhost port (random token, private settings) over a
temporary folder holding a copy of ``notebooks/08_exploring_bases.ipynb`` with ``SMOKE = True``
injected after its parameters cell (as ``tests/test_notebooks.py`` does), opens it in Debian's
Chromium driven by Playwright, runs all cells from the Run menu, waits for the notebook's own
checks to pass, then types a value into the ExpressionExplorer's ``jawOpen`` slider (clamped to its maximum) and checks that the image
widget shows a different picture (its PNG source and a screenshot both change).

Screenshots (before, after, the whole page on failure) and the server log go to pytest's tmp_path.
Needs ``/usr/bin/chromium`` (apt-get install chromium) and the ``playwright`` Python package — never
``playwright install``; skipped with the reason when either is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "08_exploring_bases.ipynb"

from browser.jupyter_server import JupyterLabServer
from browser.lab_page import (
    CHROMIUM,
    CHROMIUM_ARGS,
    open_notebook,
    run_all_cells,
    wait_for,
    wait_for_text_output,
)

from bench.notebook_times import inject_smoke

# Smoke mode of notebook 08 in the browser (it trains a short run: ~140 s on 2 lightly loaded
# cores). A generous limit keeps the test about correctness, not speed; NBSKIT_BROWSER_TIMEOUT_S
# overrides it.
NOTEBOOK_TIMEOUT_S = float(os.environ.get("NBSKIT_BROWSER_TIMEOUT_S", "900"))
SLIDER_UPDATE_TIMEOUT_S = 120
CHECKS_PASSED = "all checks passed"  # what notebook 08's last cell prints
SLIDER_NAME = "jawOpen"
BEYOND_ANY_MAXIMUM = "1000"  # typed into the slider's readout
SLIDER_GROUP = "jaw"
EXPLORER = ".nbskit-expression-explorer"

pytestmark = [pytest.mark.slow, pytest.mark.notebook]


def _requirements_or_skip():
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(
            "the playwright Python package is not installed (pip install playwright; no browser download)"
        )
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (the 'notebooks' extra)")
    return sync_playwright


def _smoke_copy(folder: Path) -> Path:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    inject_smoke(notebook)
    path = folder / NOTEBOOK.name
    nbformat.write(notebook, path)
    return path


def test_notebook_08_runs_in_browser_and_slider_changes_render(tmp_path: Path) -> None:
    sync_playwright = _requirements_or_skip()
    root, scratch, shots = tmp_path / "root", tmp_path / "scratch", tmp_path / "screenshots"
    for folder in (root, scratch, shots):
        folder.mkdir()
    notebook = _smoke_copy(root)
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    with JupyterLabServer(root, scratch, env) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            open_notebook(page, server.url(f"lab/tree/{notebook.name}"))
            run_all_cells(page)
            wait_for_text_output(page, CHECKS_PASSED, NOTEBOOK_TIMEOUT_S)

            explorer = page.locator(EXPLORER).first
            explorer.scroll_into_view_if_needed()
            image = explorer.locator("img").first
            before_src = image.get_attribute("src")
            image.screenshot(path=str(shots / "before.png"))

            explorer.locator(".jupyter-widget-Collapse-header", has_text=SLIDER_GROUP).first.click()
            slider = explorer.locator(".widget-slider", has_text=SLIDER_NAME).first
            readout = slider.locator(".widget-readout")
            readout.click()
            page.keyboard.press("Control+A")
            page.keyboard.type(BEYOND_ANY_MAXIMUM)  # the slider clamps it to its maximum
            page.keyboard.press("Enter")

            wait_for(
                page,
                lambda: image.get_attribute("src") != before_src,
                SLIDER_UPDATE_TIMEOUT_S,
                "the explorer's image to change after moving the slider",
            )
            page.wait_for_timeout(500)  # let the new image decode before the screenshot
            image.screenshot(path=str(shots / "after.png"))
        except BaseException:
            page.screenshot(path=str(shots / "page_on_failure.png"), full_page=True)
            (scratch / "server_log_tail.txt").write_text(server.log())
            raise
        finally:
            browser.close()
    before, after = (shots / "before.png").read_bytes(), (shots / "after.png").read_bytes()
    assert before != after, f"screenshots identical after moving {SLIDER_NAME}; see {shots}"
