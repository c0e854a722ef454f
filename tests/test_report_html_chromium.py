"""The HTML report's ladders as Debian's headless chromium renders them.

For a pass case and each failure kind of captures/lab/, the report is laid out by the real
browser; a probe script, added to a copy of the report only (the report itself has no
script), reads the rendered SVG back: lanes and their hosts, each arrow's ends against
the lifelines, labels, computed colours, links to findings. Screenshots (light, and one
dark) go to tests/artifacts/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from browser import ARTIFACTS, dump_dom, needs_chromium, print_pdf, screenshot_flags

from flowcheck.cli.main import run

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"
M, A = "10.77.0.1", "10.77.0.2"
RED, GREEN = "rgb(198, 40, 40)", "rgb(27, 122, 27)"

PROBE = """<script>
(() => {
  const centre = r => r.left + r.width / 2;
  const out = [...document.querySelectorAll('svg.ladder')].map(svg => {
    const box = svg.getBoundingClientRect();
    return {
      session: svg.dataset.session, left: box.left, right: box.right,
      lanes: [...svg.querySelectorAll('g.lane')].map(g => ({
        host: g.dataset.host, role: g.dataset.role,
        x: centre(g.querySelector('line.lifeline').getBoundingClientRect())})),
      arrows: [...svg.querySelectorAll('g.arrow')].map(g => {
        const line = g.querySelector('line'), r = line.getBoundingClientRect();
        const label = g.querySelector('text.label'), t = label.getBoundingClientRect();
        const link = g.querySelector('a');
        return {kind: g.dataset.kind, step: g.dataset.step, status: g.dataset.status,
                finding: g.dataset.finding, label: label.textContent, x1: r.left,
                x2: r.right, lines: g.querySelectorAll('line').length,
                textLeft: t.left, textRight: t.right,
                stroke: getComputedStyle(line).stroke,
                href: link ? link.getAttribute('href') : null};
      })};
  });
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.hidden = true;  // out of the layout: the same run's screenshot is the report's
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""

# capture -> (lanes, the failing arrow's kind and finding, or None for a pass)
CASES = {
    "clean-3-resources": ([M, A], None),
    "control-refused": ([M, A], ("rst", "control_refused")),
    "control-dropped": ([M, A], ("syn", "control_unanswered")),
    "callback-blocked": ([M, A], ("syn", "callback_unanswered")),
    "callback-rejected": ([M, A], ("icmp", "callback_refused")),
    "data-port-dropped": ([M, A], ("syn", "data_unanswered")),
    "data-port-rejected": ([M, A], ("icmp", "data_refused")),
    "data-port-in-use": ([M, A], ("rst", "data_refused")),
    "agent-connects-data": ([M, A], ("syn", "step_out_of_order")),
    # Two findings, one per host outside the backup network (the media server, the
    # agent), both on the first connection's SYN.
    "control-off-backup-network": (["10.78.0.1", M, "10.78.0.2", A],
                                   ("syn", "control_off_backup_network")),
}


DARK = ("--force-dark-mode", "--blink-settings=preferredColorScheme=0")


def _report(name: str, folder: Path) -> Path:
    """`analyze --html` of captures/lab/NAME into folder/NAME.html, its exit code the
    case's (pass 0, fail 1)."""
    report = folder / f"{name}.html"
    code = run(["analyze", "--format", "json", "--config", str(LAB / f"{name}.toml"),
                str(LAB / f"{name}.pcap"), "--html", str(report)])
    assert code == (0 if CASES[name][1] is None else 1)
    return report


def _render(name: str, folder: Path, *extra: str,
            png: Path | None = None) -> tuple[Path, list[dict]]:
    """The report of captures/lab/NAME, and what the probe read off chromium's layout of
    it (`extra`: chromium's flags). png: the same run's screenshot of it (1280x1600; the
    probe's output is hidden), one chromium start instead of two."""
    report = _report(name, folder)
    html = report.read_text(encoding="utf-8")
    assert "<script" not in html and not re.search(r"(src|href)=\"(https?:)?//", html)
    probed = folder / f"{name}.probe.html"
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = dump_dom(probed, *extra, *(screenshot_flags(png) if png is not None else ()))
    assert png is None or png.stat().st_size > 10_000
    found = re.search(r'<pre id="probe" hidden="">(.*?)</pre>', dom, re.S)
    assert found, dom[-500:]
    text = found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
    return report, json.loads(text.replace("&amp;", "&"))


@needs_chromium
@pytest.mark.parametrize("name", list(CASES))
def test_ladder_as_rendered(name: str, tmp_path: Path) -> None:
    lanes, failure = CASES[name]
    report, (svg, *others) = _render(name, tmp_path, png=ARTIFACTS / "ladder" / f"{name}.png")
    assert [lane["host"] for lane in svg["lanes"]] == lanes
    xs = {lane["host"]: lane["x"] for lane in svg["lanes"]}
    positions = sorted(xs.values())
    assert all(b - a > 150 for a, b in zip(positions, positions[1:], strict=False))
    arrows = svg["arrows"]
    assert arrows
    for arrow in arrows:
        # Each arrow runs from one lifeline to another, its label inside the picture.
        ends = [min(xs.values(), key=lambda x, e=end: abs(x - e)) for end in
                (arrow["x1"], arrow["x2"])]
        assert abs(arrow["x1"] - ends[0]) < 12 and abs(arrow["x2"] - ends[1]) < 12, arrow
        assert ends[0] != ends[1]
        assert svg["left"] - 1 <= arrow["textLeft"] and arrow["textRight"] <= svg["right"] + 1
    steps = [a["step"] for a in arrows if a["step"]]
    assert steps[0] == "1" and arrows[0]["kind"] == "syn"
    assert arrows[0]["label"].startswith("SYN :") and "\u2192 :10000" in arrows[0]["label"]
    if failure is None:
        assert {a["status"] for a in arrows} <= {"ok", "neutral"}
        assert sorted(set(steps)) == ["1", "2", "3", "4", "5"]
        assert all(a["stroke"] == GREEN for a in arrows if a["status"] == "ok")
        data = [a for a in arrows if a["kind"] == "data"]
        assert len(data) == 3 and all("200.0 kB" in a["label"] for a in data)
    else:
        kind, code = failure
        failing = [a for a in arrows if code in a["finding"].split()]
        assert len(failing) == 1, failing
        if name == "control-off-backup-network":  # one cause, one error (trial 19 D9)
            assert failing[0]["finding"].split() == [code]
        arrow = failing[0]
        assert arrow["kind"] == kind and code in arrow["label"]
        assert arrow["href"] and arrow["href"].startswith("#finding-")
        colour = RED if arrow["status"] in ("failed", "missing") else "rgb(179, 71, 0)"
        assert arrow["stroke"] == colour, arrow
        # The link's target is the finding's entry, which names the same code.
        html = report.read_text(encoding="utf-8")
        entry = re.search(rf'<li id="{arrow["href"][1:]}">(.*?)</li>', html, re.S)
        assert entry and f"<code>{code}</code>" in entry.group(1)
        if kind == "syn" and "unanswered" in code:
            assert arrow["lines"] > 1 and "\u00d7" in arrow["label"]  # repeats drawn


@needs_chromium
def test_dark_mode_screenshot(tmp_path: Path) -> None:
    """prefers-color-scheme: dark swaps the palette: the failing arrow turns light red."""
    _, (svg,) = _render("data-port-in-use", tmp_path, *DARK,
                        png=ARTIFACTS / "ladder" / "data-port-in-use-dark.png")
    assert "rgb(255, 123, 123)" in {a["stroke"] for a in svg["arrows"]}  # --failed in dark


@needs_chromium
def test_printed_from_a_dark_desktop_is_dark_on_white(tmp_path: Path) -> None:
    """Printed from a desktop in dark mode, the report is dark ink on white paper (pixels
    of poppler's rendering of chromium's PDF): the dark palette is for the screen only
    (`@media screen and (prefers-color-scheme: dark)`; chromium itself prints light).
    The report only: test_ladder_as_rendered lays out the same one."""
    report = _report("data-port-in-use", tmp_path)
    pdf = print_pdf(report, tmp_path / "report.pdf", *DARK)
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-f", "1", "-l", "2", str(pdf),
                    str(tmp_path / "page")], check=True, timeout=60)
    for page in sorted(tmp_path.glob("page-*.pgm")):
        data = page.read_bytes()
        # Binary PGM: "P5\n<w> <h>\n<max>\n" then one byte per pixel.
        magic, width, height, _, pixels = data.split(maxsplit=4)
        assert magic == b"P5"
        gray = np.frombuffer(pixels[: int(width) * int(height)], dtype=np.uint8)
        assert gray.mean() > 200  # white paper, not a dark page
        assert (gray < 110).mean() > 0.004  # dark ink: text, lifelines, arrows
