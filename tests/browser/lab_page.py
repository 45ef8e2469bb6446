"""Driving a JupyterLab notebook page with Playwright: wait for the kernel, run all cells, read outputs.

Selectors are JupyterLab 4 / ipywidgets 8 class names. Waits poll the page instead of sleeping,
and every wait has a deadline that ends in an error naming what never happened.
"""

from __future__ import annotations

import time

# Debian's chromium, never a browser downloaded by `playwright install` (CI is offline).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
PAGE_LOAD_TIMEOUT_MS = 90_000
POLL_INTERVAL_MS = 500
ERROR_OUTPUT = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'] .jp-RenderedText"


def wait_for(page, condition, timeout_s: float, what: str):
    """Poll ``condition()`` until it returns something truthy; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
        page.wait_for_timeout(POLL_INTERVAL_MS)


def kernel_status(page) -> str:
    """The kernel status shown in the notebook toolbar/status bar ('Idle', 'Busy', ... or '')."""
    text = page.locator(".jp-StatusBar-TextItem").all_inner_texts()
    return " ".join(text)


def open_notebook(page, url: str) -> None:
    """Load the notebook and wait until its kernel reports idle."""
    page.goto(url, timeout=PAGE_LOAD_TIMEOUT_MS)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=PAGE_LOAD_TIMEOUT_MS)
    wait_for(
        page, lambda: "Idle" in kernel_status(page), PAGE_LOAD_TIMEOUT_MS / 1000, "the kernel to start (Idle)"
    )


def run_all_cells(page) -> None:
    """Run > Run All Cells, from the menu bar, as a user would."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def error_text(page) -> str:
    """Text of the first output that is a Python traceback, or '' (warnings also go to stderr)."""
    return next((text for text in page.locator(ERROR_OUTPUT).all_inner_texts() if "Traceback" in text), "")


def wait_for_text_output(page, text: str, timeout_s: float) -> None:
    """Wait until some cell output contains ``text``; fail early with the traceback if a cell raised."""

    def finished():
        error = error_text(page)
        if error:
            raise AssertionError(f"a notebook cell failed in the browser:\n{error[-3000:]}")
        return page.locator(".jp-OutputArea-output", has_text=text).count() > 0

    wait_for(page, finished, timeout_s, f"an output containing {text!r}")
