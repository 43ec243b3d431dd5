"""report.html: self-contained, safe with hostile quotes, and rendered by a real browser (headless Chromium).

The browser test needs Debian's `chromium` (`make browser` installs it where apt and root are available);
it is skipped, with that reason, only where no chromium binary exists.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
from pathlib import Path

import pymupdf
import pytest

from paper_autotrain.stages import compare
from paper_autotrain.stages.compare import report_html
from tests import report_fixtures

EVAL = {"ks": [10], "main_metric": "ndcg@10"}
SEEDS = [0, 1, 2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LEAD_COPY = Path("/tmp/report_screenshot.png")  # where the lead looks at the screenshot after a run


def write_report(folder: Path, baseline_curves: bool = True) -> tuple[Path, list, list]:
    ours, baselines, files = report_fixtures.runs(folder / "runs", SEEDS, baseline_curves=baseline_curves)
    html = compare.run(report_fixtures.spec(), ours, baselines, report_fixtures.SPLIT, EVAL, files)["report.html"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.html"
    path.write_text(html, encoding="utf-8")
    return path, ours, baselines


def mean_std(runs, model: str) -> str:
    """A table cell of the page: the mean over seeds, the sample std under it."""
    values = [r.test["ndcg@10"] for r in runs if r.model == model]
    return f'{statistics.mean(values):.4f}<br><span class="std">± {statistics.stdev(values):.4f}</span>'


def test_report_is_self_contained_and_escapes_quotes(tmp_path):
    path, ours, _ = write_report(tmp_path)
    html = path.read_text()
    tags = re.findall(r"<[^>]*>", html)  # markup only: escaped quotes hold no '<'
    names = {re.match(r"</?\s*([a-zA-Z0-9]+)", tag).group(1).lower() for tag in tags if not tag.startswith("<!")}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base"}, names
    assert not [tag for tag in tags if re.search(r"\b(src|href|on\w+)\s*=", tag)]  # nothing fetched or run
    style = html.split("<style>")[1].split("</style>")[0]
    assert "url(" not in style and "@import" not in style and "http" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html  # the quote, as text
    assert html.count('<rect class="bar"') == 3  # TinyProp, LightGCN, Pop; the failed NGCF has no bar
    assert html.count('class="whisker"') == 3 * 3  # a ± std whisker with two end caps per bar
    assert html.count('class="curve seed"') == 2 * len(SEEDS)  # ours: valid metric and train loss, per seed
    for kind in ("ours", "reference", "baseline"):  # and the reproduction chart: ours, LightGCN, Pop
        assert html.count(f'class="curve {kind}"') == 1, kind
    assert mean_std(ours, "TinyProp") in html


def test_fidelity_sections_show_hostile_quotes_as_text():
    ours, baselines = report_fixtures.ctr_runs(reference="DeepFM")
    html = compare.run(report_fixtures.faithful_spec(), ours, baselines, report_fixtures.SPLIT, EVAL)["report.html"]
    section = html.split('<section id="fidelity">')[1].split("</section>")[0]
    assert "&lt;script&gt;" in section and "<script" not in html and "<img" not in html
    assert "<li>deep component → <code>mlp_tower</code></li>" in section


def test_one_seed_report_has_no_whiskers(tmp_path):
    ours, baselines, files = report_fixtures.runs(tmp_path, [4], with_failure=False)
    html = compare.run(report_fixtures.spec(), ours, baselines, report_fixtures.SPLIT, EVAL, files)["report.html"]
    assert 'class="whisker"' not in html and "±" not in html.split('id="charts"')[0]
    assert html.count('class="curve seed"') == 2 and "one seed" in html
    assert html.count('<polyline class="curve') == 2 + 3  # ours per seed, then ours, LightGCN and Pop overlaid


def reproduction_svg(html: str) -> str:
    return html.split('<svg class="chart lines reproduction"')[1].split("</svg>")[0]


def polyline_points(svg: str, kind: str) -> list[tuple[float, float]]:
    points = re.search(rf'<polyline class="curve {kind}"[^>]* points="([^"]*)"', svg).group(1)
    return [tuple(map(float, p.split(","))) for p in points.split()]


def test_the_reproduction_chart_overlays_ours_and_the_references_valid_curves(tmp_path):
    """Known curves (tests/report_fixtures.valid_curve): ours 8 epochs near 0.30, the reference 12 epochs below
    it, Pop one epoch; one x axis (epoch 1 at the same pixel), one y axis (higher value = higher on the page)."""
    ours, baselines, files = report_fixtures.runs(tmp_path, SEEDS)
    pages = compare.run(report_fixtures.spec(), ours, baselines, report_fixtures.SPLIT, EVAL, files)
    html = pages["report.html"]
    assert "- LightGCN (RecBole, reference): best 0.2652 at epoch 12 of 12\n" in pages["report.md"]
    svg = reproduction_svg(html)
    assert "Valid NDCG@10 per epoch, seed 0: ours and RecBole&#39;s" in svg
    mine, theirs, pop = (polyline_points(svg, kind) for kind in ("ours", "reference", "baseline"))
    assert (len(mine), len(theirs), len(pop)) == (8, 12, 1)
    assert mine[0][0] == theirs[0][0] == pop[0][0]  # epoch 1, counted alike on both sides
    assert theirs[-1][0] > mine[-1][0]  # the reference ran 12 epochs, ours 8: one shared epoch axis
    assert all(m[1] < t[1] for m, t in zip(mine, theirs, strict=False))  # ours above the reference at every epoch
    assert f'stroke="{report_html.OURS_COLOR}"' in svg and f'stroke="{report_html.REFERENCE_COLOR}"' in svg
    assert 'stroke-dasharray="5 4"' in svg  # the other baselines dashed
    legend = re.findall(r'<text class="small" x="[\d.]+" y="[\d.]+">([^<]*)</text>', svg)[-3:]
    assert legend == ["TinyProp (ours)", "LightGCN (reference)", "Pop (RecBole)"]
    assert "LightGCN (RecBole, reference): best 0.2652 at epoch 12 of 12" in html

    ours, baselines, files = report_fixtures.runs(tmp_path / "none", SEEDS, baseline_curves=False)
    html = compare.run(report_fixtures.spec(), ours, baselines, report_fixtures.SPLIT, EVAL, files)["report.html"]
    assert 'class="curve reference"' not in html and html.count('class="curve ours"') == 1  # ours alone


def test_the_bar_axis_starts_near_the_values_so_a_small_difference_shows():
    from paper_autotrain.stages.compare.report_html import axis_start, difference_text

    assert axis_start(0.27, 0.29) == pytest.approx(0.26)  # close values: half their spread below the lowest
    assert axis_start(0.05, 0.29) == 0.0  # values spread over their range: from 0
    assert difference_text(0.2743, 0.2810) == " (-2.4% vs reference)"
    assert difference_text(0.2743, None) == ""


def test_ticks_are_round_numbers():
    low, high, step = report_html.nice_range(0.0, 0.3134, 5)
    assert (low, high, step) == (0.0, 0.4, 0.1)
    assert [t.label for t in report_html.ticks(low, high, step, 0, 400)] == ["0.0", "0.1", "0.2", "0.3", "0.4"]
    assert report_html.nice_range(0.5, 0.5)[0] < 0.5 < report_html.nice_range(0.5, 0.5)[1]  # a flat line


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-extensions", "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
               *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def pixel_stats(png: Path, color: tuple[int, int, int]) -> tuple[int, int, float, int]:
    """(width, height, fraction of non-white pixels, pixels within 12 of `color` per channel)."""
    pixmap = pymupdf.Pixmap(str(png))
    if pixmap.alpha:
        pixmap = pymupdf.Pixmap(pixmap, 0)  # drop the alpha channel
    samples, n = pixmap.samples, pixmap.n
    pixels = [tuple(samples[i:i + 3]) for i in range(0, len(samples), n * 4)]  # every 4th pixel is enough
    non_white = sum(1 for p in pixels if min(p) < 240) / len(pixels)
    near = sum(1 for p in pixels if all(abs(a - b) <= 12 for a, b in zip(p, color, strict=True)))
    return pixmap.width, pixmap.height, non_white, near


def hex_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: `make browser` installs Debian's chromium")
def test_report_renders_in_headless_chromium(tmp_path):
    path, ours, baselines = write_report(tmp_path)
    dom = chromium("--dump-dom", path.as_uri(), profile=tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    assert "<table" in text and "TinyProp: reproduction report" in text
    for model in ("TinyProp", "LightGCN", "Pop"):  # the key numbers: mean ± std of every row
        assert mean_std(ours + baselines, model) in text, model
    assert re.search(r"paired t-test p &lt; 0\.0001", text)  # the p-value sentence, as the browser parsed it
    assert ">&lt; 0.0001</td>" in text  # ... and in our row
    assert "0.1831" in text and "Table 3" in text  # the paper's reported number
    assert "p4: the embedding size is fixed to 32" in text and "no quote: a family default" in text
    assert "CUDA out of memory" in text and "the negative sampling ratio is not stated" in text
    assert "owned" not in re.search(r"<title>(.*?)</title>", text).group(1)  # the quoted script never ran
    assert "<img" not in text  # the quoted tag stayed text

    shot = tmp_path / "report.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1280,2000", "--hide-scrollbars", path.as_uri(),
                    profile=tmp_path / "profile")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    shutil.copyfile(shot, LEAD_COPY)
    width, height, non_white, ours_pixels = pixel_stats(shot, hex_rgb(report_html.OURS_COLOR))
    assert (width, height) == (1280, 2000)
    assert non_white > 0.03, f"the page looks blank: {non_white:.1%} non-white pixels"
    assert ours_pixels > 200, "our model's orange bar and curve are not on the screenshot"


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary: `make browser` installs Debian's chromium")
def test_headless_chromium_draws_ours_and_the_references_curves_overlaid(tmp_path):
    """The same report with and without the baselines' histories: as the browser parsed it, the reproduction chart
    holds both polylines with all their points; on the screenshot, the reference's green curve adds its pixels
    (its bar and table mark are on both pages; our orange is on both too, so the DOM check covers ours)."""
    shots = {}
    for name, baseline_curves in (("with", True), ("without", False)):
        path, _, _ = write_report(tmp_path / name, baseline_curves=baseline_curves)
        dom = chromium("--dump-dom", path.as_uri(), profile=tmp_path / "profile")
        assert dom.returncode == 0, dom.stderr[-2000:]
        if baseline_curves:
            svg = reproduction_svg(dom.stdout)
            assert len(polyline_points(svg, "ours")) == 8 and len(polyline_points(svg, "reference")) == 12
        shots[name] = tmp_path / f"{name}.png"
        done = chromium(f"--screenshot={shots[name]}", "--window-size=1280,2000", "--hide-scrollbars", path.as_uri(),
                        profile=tmp_path / "profile")
        assert done.returncode == 0 and shots[name].is_file(), done.stderr[-2000:]
    shutil.copyfile(shots["with"], LEAD_COPY.with_name("report_curves_screenshot.png"))
    green = {name: pixel_stats(shot, hex_rgb(report_html.REFERENCE_COLOR))[3] for name, shot in shots.items()}
    assert green["with"] - green["without"] > 60, f"the reference's curve is not drawn: {green}"
