"""The dashboard's server-side SVG charts: well-formed, escaped, thresholds where the values say."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from retrain.api.web.charts import Bar, Point, Rule, bar_chart, line_chart, value_range

NS = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on anything that is not well-formed XML


def _ys(points_attr: str) -> list[float]:
    return [float(p.split(",")[1]) for p in points_attr.split()]


def test_a_metric_line_has_one_point_per_value_and_the_threshold_where_its_value_lies() -> None:
    svg = _parse(
        line_chart(
            "f1 across versions",
            [Point("v1", 0.5), Point("v2", 0.2), Point("v3", 0.7)],
            [Rule("min", 0.3)],
        )
    )
    (series,) = svg.iter(f"{NS}polyline")
    ys = _ys(series.attrib["points"])
    assert len(ys) == 3
    assert ys[2] < ys[0] < ys[1]  # SVG y grows downwards: 0.7 highest, 0.2 lowest
    (rule,) = [e for e in svg.iter(f"{NS}line") if "rule" in e.attrib.get("class", "")]
    rule_y = float(rule.attrib["y1"])
    assert ys[0] < rule_y < ys[1]  # 0.3 lies between 0.5 and 0.2
    assert len(list(svg.iter(f"{NS}circle"))) == 3
    assert any("min 0.3" in (t.text or "") for t in svg.iter(f"{NS}text"))


def test_a_missing_value_is_a_gap_not_a_zero() -> None:
    svg = _parse(
        line_chart("r2", [Point("v1", 0.5), Point("v2", None), Point("v3", float("nan")), Point("v4", 0.6)])
    )
    lines = list(svg.iter(f"{NS}polyline"))
    assert [len(_ys(p.attrib["points"])) for p in lines] == [1, 1]
    assert len(list(svg.iter(f"{NS}circle"))) == 2


def test_no_values_says_so() -> None:
    svg = line_chart("drift score", [Point("v1", None)], empty="no drift checks yet")
    root = _parse(svg)
    assert not list(root.iter(f"{NS}polyline"))
    assert "no drift checks yet" in svg
    assert "no values" in bar_chart("psi", [])


def test_labels_are_escaped() -> None:
    svg = line_chart("<script>x</script>", [Point("<b>", 1.0)], [Rule("a&b", 0.5)])
    _parse(svg)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "a&amp;b" in svg


def test_psi_bars_grow_with_the_value_and_flag_drifted_features() -> None:
    svg = _parse(
        bar_chart(
            "PSI per feature",
            [Bar("cpu", 0.05), Bar("memory", 0.4, flagged=True)],
            Rule("psi", 0.25, kind="alert"),
        )
    )
    rects = list(svg.iter(f"{NS}rect"))
    widths = [float(r.attrib["width"]) for r in rects]
    assert widths[1] > widths[0] > 0
    assert "bar-flagged" in rects[1].attrib["class"] and "bar-flagged" not in rects[0].attrib["class"]
    (rule,) = [e for e in svg.iter(f"{NS}line") if "rule-alert" in e.attrib.get("class", "")]
    x0 = float(rects[0].attrib["x"])
    assert x0 + widths[0] < float(rule.attrib["x1"]) < x0 + widths[1]


def test_value_range_pads_and_keeps_the_floor() -> None:
    lo, hi = value_range([0.0, 1.0], floor=0.0)
    assert lo == 0.0 and hi > 1.0
    lo, hi = value_range([2.0])
    assert lo < 2.0 < hi
    assert value_range([]) == (0.0, 1.0)
    assert all(math.isfinite(v) for v in value_range([-5.0, 5.0]))
