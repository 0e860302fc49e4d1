"""HTML to PDF with a real browser engine (headless Chromium).

Chromium lays out Chinese text, SVG and CSS print rules exactly as the HTML
report shows them; the report's embedded font travels into the PDF.  The
browser runs with no network (``--disable-background-networking``, a file://
page with no external references) and a throw-away profile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
ENV_BROWSER = "CALL_EVIDENCE_CHROMIUM"


class PdfError(RuntimeError):
    pass


def find_browser() -> str | None:
    """A Chromium-family executable: $CALL_EVIDENCE_CHROMIUM, the PATH, or Playwright's copy."""
    if os.environ.get(ENV_BROWSER):
        return os.environ[ENV_BROWSER]
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    cache = Path.home() / ".cache" / "ms-playwright"
    for exe in sorted(cache.glob("chromium-*/chrome-linux*/chrome"), reverse=True):
        return str(exe)
    return None


def html_to_pdf(html: Path, pdf: Path, timeout: float = 120) -> None:
    browser = find_browser()
    if browser is None:
        raise PdfError("no Chromium found to print the PDF (install chromium, e.g. `sudo make "
                       f"system-deps`, or set {ENV_BROWSER}); the HTML report was still written")
    with tempfile.TemporaryDirectory(prefix="ce-chromium-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-extensions",
               "--disable-background-networking", "--no-first-run", "--no-pdf-header-footer",
               f"--user-data-dir={profile}", f"--print-to-pdf={pdf}",
               html.resolve().as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise PdfError(f"Chromium did not finish printing {html.name} in {timeout:.0f} s") from e
    if not pdf.is_file() or pdf.stat().st_size == 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PdfError(f"Chromium could not print {html.name}: " + (err[-1] if err else
                                                                     f"exit code {proc.returncode}"))
