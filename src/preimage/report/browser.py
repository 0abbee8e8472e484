"""Check an HTML page in a real browser (headless Chromium), as a person would open it.

:func:`check_page` loads a copy of the page with a small probe script added at the top of its
``<head>``, at each width, and reads back what the probe saw after the page loaded: every image's
natural size, the document's width against the window's (horizontal scrolling), console errors and
uncaught exceptions, and every resource the page fetched that is not inside the file itself.
Nothing but Chromium is needed (``--dump-dom`` returns the probe's findings in the DOM).
"""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

PROBE = """<script>
(function () {
  var errors = [];
  var origError = console.error;
  console.error = function () { errors.push(Array.prototype.join.call(arguments, " ")); origError.apply(console, arguments); };
  window.addEventListener("error", function (e) { errors.push(String(e.message || e.type || "error")); }, true);
  function report() {
    var imgs = Array.prototype.map.call(document.images, function (im) {
      return {alt: im.alt || "", w: im.naturalWidth, h: im.naturalHeight, complete: im.complete};
    });
    var res = performance.getEntriesByType("resource").map(function (r) { return r.name; })
      .filter(function (n) { return n.indexOf("data:") !== 0; });
    var out = {images: imgs, scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
               errors: errors, requests: res};
    var pre = document.createElement("pre");
    pre.id = "preimage-probe";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  window.addEventListener("load", function () {
    // lazily loaded pictures below the fold: load them too, so that every picture is checked
    var lazy = Array.prototype.filter.call(document.images, function (im) { return im.loading === "lazy"; });
    if (!lazy.length) { report(); return; }
    lazy.forEach(function (im) { im.loading = "eager"; });
    var tries = 0;
    (function wait() {
      var pending = lazy.filter(function (im) { return !im.complete; }).length;
      if (pending === 0 || ++tries > 40) { report(); } else { setTimeout(wait, 50); }
    })();
  });
})();
</script>"""


def find_browser() -> Optional[str]:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def check_page(page: str | Path, widths: Sequence[int] = (1280, 800), browser: Optional[str] = None,
               timeout: float = 60.0, site: Optional[str | Path] = None) -> Dict[int, Dict]:
    """What a browser sees of ``page`` at each width: ``{width: {"images", "scrollWidth", "innerWidth",
    "errors", "requests"}}``. Raises ``RuntimeError`` when no browser is installed or it fails.

    ``site``: the page belongs to a site of several files (the atlas): the probed copy is written
    beside the page, so that its relative links resolve, and requests for files inside ``site`` are
    not counted as leaving it."""
    browser = browser or find_browser()
    if browser is None:
        raise RuntimeError("no Chromium found (apt-get install chromium)")
    html = Path(page).read_text(encoding="utf-8")
    probed = re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + PROBE, html, count=1, flags=re.I)
    if probed == html:
        probed = PROBE + html
    out: Dict[int, Dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(page).with_name(f".probe-{Path(page).name}") if site is not None else Path(tmp) / "page.html"
        copy.write_text(probed, encoding="utf-8")
        try:
            for w in widths:
                out[w] = _probe(browser, copy, w, tmp, timeout)
                if site is not None:
                    inside = Path(site).resolve().as_uri() + "/"
                    out[w]["requests"] = [u for u in out[w]["requests"] if not u.startswith(inside)]
        finally:
            if site is not None:
                copy.unlink(missing_ok=True)
    return out


def _probe(browser: str, copy: Path, w: int, tmp: str, timeout: float) -> Dict:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-quic", f"--user-data-dir={tmp}/profile-{w}", f"--window-size={w},900",
           "--virtual-time-budget=5000", "--dump-dom", copy.resolve().as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    m = re.search(r'<pre id="preimage-probe">(.*?)</pre>', r.stdout, flags=re.S)
    if not m:
        raise RuntimeError(f"the browser returned no probe result at width {w} (exit {r.returncode}): "
                           f"{r.stderr.strip().splitlines()[-1:] or ''}")
    return json.loads(html_lib.unescape(m.group(1)))


def problems(findings: Dict[int, Dict]) -> List[str]:
    """Everything a person would notice, in words (empty when the page is fine)."""
    bad = []
    for w, f in findings.items():
        for im in f["images"]:
            if not (im["w"] > 0 and im["h"] > 0):
                bad.append(f"{w}px: image {im['alt']!r} does not decode")
        if f["scrollWidth"] > f["innerWidth"]:
            bad.append(f"{w}px: scrolls sideways ({f['scrollWidth']} > {f['innerWidth']} px)")
        bad += [f"{w}px: console error: {e}" for e in f["errors"]]
        bad += [f"{w}px: request leaves the file: {r}" for r in f["requests"]]
    return bad
