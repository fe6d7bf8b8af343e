"""Helpers for the browser tests: Playwright driving Debian's chromium, never a downloaded browser.

`scripts/bootstrap.sh --dev` installs /usr/bin/chromium (Debian's package) and a CJK font
(fonts-noto-cjk); Playwright's own browser builds are never fetched
(PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1, and `playwright install` is never run).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's chromium, the only browser the tests drive."""

BROWSER_ARGS: tuple[str, ...] = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # The network is closed: without these Chromium floods refused connections.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
"""The Chromium flags this machine needs (headless, as root, no GPU, no network)."""


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Debian's chromium under Playwright, closed on exit; fails (never skips) if it is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium; "
            "run scripts/bootstrap.sh --dev",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(BROWSER_ARGS), headless=True
        )
        try:
            yield browser
        finally:
            browser.close()
