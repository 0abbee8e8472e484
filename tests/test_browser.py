"""Every HTML page the package writes, opened in a real headless browser at 1280 and 800 px:
images decode, no sideways scrolling, no console errors, no request leaves the file."""

import os

import pytest

from preimage.report.browser import check_page, find_browser, problems

NEED = os.environ.get("PREIMAGE_REQUIRE_BROWSER") == "1"  # set by .ci/run: there the test must run


def _browser():
    b = find_browser()
    if b is None:
        if NEED:
            pytest.fail("PREIMAGE_REQUIRE_BROWSER=1 but no Chromium is installed")
        pytest.skip("no Chromium installed (apt-get install chromium); .ci/run installs it")
    return b


def test_the_probe_sees_what_is_wrong(tmp_path):
    b = _browser()
    page = tmp_path / "bad.html"
    page.write_text('<html><head><title>x</title></head><body><div style="width:2000px">wide</div>'
                    '<img alt="far" src="http://127.0.0.1:9/x.png"><img alt="broken" src="data:image/png;base64,AAAA">'
                    '<script>console.error("boom")</script></body></html>')
    found = "\n".join(problems(check_page(page, (800,), browser=b)))
    for needle in ("'far' does not decode", "'broken' does not decode", "scrolls sideways", "console error: boom",
                   "request leaves the file: http://127.0.0.1:9/x.png"):
        assert needle in found


def test_demo_report_in_a_browser(tmp_path):
    from preimage import report
    from preimage.models import load_model
    from preimage.report.demo import run_demo

    b = _browser()
    print(f"browser test runs with {b}")
    demo = run_demo(load_model("refnet"), layers=["conv1", "conv5", "fc8"], iters=3, show=False)
    report.save(demo, tmp_path / "demo")
    findings = check_page(tmp_path / "demo" / "report.html", (1280, 800), browser=b)
    assert problems(findings) == []
    assert len(findings[1280]["images"]) >= 6


def test_diagnose_page_in_a_browser(tmp_path):
    import numpy as np
    from PIL import Image

    from preimage.cli import main

    b = _browser()
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(d / f"{i}.png")
    assert main(["diagnose", "--model", "refnet", "--layers", "conv1,relu1,relu3,relu5,fc6,relu6,fc8", "--data", str(d), "--quiet",
                 "--out", str(tmp_path / "diag")]) == 0
    findings = check_page(tmp_path / "diag" / "diagnose.html", (1280, 800), browser=b)
    assert problems(findings) == [] and len(findings[800]["images"]) >= 4


def test_leakage_page_in_a_browser(tmp_path):
    from test_privacy import _private

    from preimage.cli import main

    b = _browser()
    priv = _private(tmp_path)
    assert main(["leakage", "--model", "refnet", "--layers", "conv2,conv5,fc8", "--private", str(priv),
                 "--defense", "noise:0.3,1|quantize:2|topk:0.1", "--quiet", "--out", str(tmp_path / "leak")]) == 0
    findings = check_page(tmp_path / "leak" / "leakage.html", (1280, 800), browser=b)
    assert problems(findings) == [] and len(findings[800]["images"]) >= 5


def test_atlas_pages_in_a_browser(tmp_path):
    import numpy as np
    from PIL import Image

    from preimage.cli import main

    b = _browser()
    d = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for c in ("cat", "ship"):
        (d / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(d / c / f"{i}.png")
    site = tmp_path / "site"
    assert main(["atlas", "--model", "refnet", "--data", str(d), "--layers", "relu3,fc8", "--channels", "0:4", "--k", "4",
                 "--iters", "3", "--accent-iters", "2", "--workers", "0", "--quiet", "--out", str(site)]) == 0
    for page in ("index.html", "layers/relu3.html", "units/relu3/2.html", "units/fc8/0.html"):
        findings = check_page(site / page, (1280, 800), browser=b, site=site)
        assert problems(findings) == [], page
        assert all(im["w"] > 0 for im in findings[800]["images"])
    assert len(check_page(site / "units/relu3/2.html", (1280,), browser=b, site=site)[1280]["images"]) >= 4 + 4 + 4 + 2
