"""The graph exports show a failed session whatever failed (trial 20 D20): an NDMP
error reply (listen-error: every connection opened) marks its connection's edge with
the finding's code in DOT, GraphML and JSON; the DOT names the verdict and its
clusters read "media server", not "media_server"."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from flowcheck.cli.main import run

LAB = Path(__file__).resolve().parent.parent / "captures" / "lab"


def _export(tmp_path: Path, suffix: str) -> str:
    path = tmp_path / f"g{suffix}"
    run(["analyze", str(LAB / "listen-error.pcap"), "--config",
         str(LAB / "listen-error.toml"), "--graph", str(path), "--format", "json"])
    return path.read_text()


def test_dot_marks_the_failed_control_connection(tmp_path: Path) -> None:
    dot = _export(tmp_path, ".dot")
    control = next(line for line in dot.splitlines() if 'label="C1 control' in line)
    assert "ndmp_error_reply" in control and "color=red" in control
    assert 'label="flowcheck FAIL";' in dot
    assert 'label="10.77.0.1 (media server)";' in dot
    assert 'label="10.77.0.2 (remote agent)";' in dot
    assert "_server" not in dot and "_agent" not in dot
    ok = next(line for line in dot.splitlines() if 'label="C3 data' in line)
    assert "red" not in ok


def test_json_and_graphml_carry_the_findings_and_verdict(tmp_path: Path) -> None:
    document = json.loads(_export(tmp_path, ".json"))
    assert document["graph"]["verdict"] == "fail"
    edges = {link["uid"]: link for link in document["links"] if link["kind"] == "connection"}
    assert edges["C1"]["findings"] == "ndmp_error_reply"
    assert edges["C1"]["severity"] == "error"
    assert edges["C3"]["findings"] == "" and edges["C3"]["severity"] == ""
    root = ET.fromstring(_export(tmp_path, ".graphml"))
    texts = [element.text for element in root.iter() if element.tag.endswith("data")]
    assert "ndmp_error_reply" in texts and "fail" in texts


def test_graphviz_draws_no_label_inside_a_host_box(tmp_path: Path) -> None:
    """The callback's label sat on the agent's cluster title: each connection label
    between two hosts lies outside both hosts' boxes."""
    import shutil
    import subprocess

    import pytest

    if shutil.which("dot") is None:
        pytest.skip("graphviz is not installed")
    dot = tmp_path / "g.dot"
    dot.write_text(_export(tmp_path, ".dot"))
    layout = json.loads(subprocess.run(["dot", "-Tjson", str(dot)], check=True,
                                       capture_output=True, text=True).stdout)
    boxes = [[float(v) for v in item["bb"].split(",")] for item in layout["objects"]
             if item.get("name", "").startswith("cluster_")]
    labels = [[float(v) for v in edge["lp"].split(",")] for edge in layout["edges"]
              if "lp" in edge]
    assert len(boxes) == 2 and len(labels) == 4
    for x, y in labels:
        assert not any(x0 <= x <= x1 and y0 <= y <= y1 for x0, y0, x1, y1 in boxes)
