"""The fixed parts of the exported HTML page: its style and the script that draws the chart.

Kept apart from `html`, which fills in the recording, so the page's code reads as code.
The script reads the data from the page's JSON block (never from markup), and formats
bytes exactly as the dashboard does. The report's page (report_html) builds on the same
style and byte formatting.
"""

from __future__ import annotations

STYLE = """
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 24px; color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; }
.meta { color: var(--muted); margin: 0; }
.meta code, td code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace;
  white-space: pre-wrap; word-break: break-all; }
code.cmdline { display: block; max-width: 32em; max-height: 6.2em; overflow: auto; }
#chart { min-height: 380px; }
.note { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; background: #f4f6f9; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
"""

# Bytes as the dashboard shows them, and grid steps round in 1024-based units; shared by
# every page that draws bytes (the export, the report). Meant for inside a function.
BYTES_JS = r"""
  var UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];
  function fmtBytes(v) {
    if (v == null || !isFinite(v)) return "\u2013";
    var neg = v < 0, a = Math.abs(v), i = 0;
    while (a >= 1024 && i < UNITS.length - 1) { a /= 1024; i++; }
    if (i === 0) return (neg ? "-" : "") + Math.round(a) + " B";
    var s = a.toFixed(1);
    if (s === "1024.0" && i < UNITS.length - 1) { s = "1.0"; i++; }
    return (neg ? "-" : "") + s + " " + UNITS[i];
  }
  // Grid steps that are round in 1024-based units (1, 2, 5, ... KB, MB, GB), not 10-based.
  var BYTE_STEPS = [];
  for (var p = 0; p < UNITS.length; p++) {
    [1, 2, 5, 10, 20, 50, 100, 200, 500].forEach(function (m) {
      BYTE_STEPS.push(m * Math.pow(1024, p));
    });
  }
"""

SCRIPT = (
    r"""
(function () {
  "use strict";
  var doc = JSON.parse(document.getElementById("memlens-data").textContent);
"""
    + BYTES_JS
    + r"""
  var el = document.getElementById("chart");
  var targets = doc.series.filter(function (s) { return s.t.length > 0; });
  if (!targets.length) {
    el.textContent = "No samples were recorded.";
    el.dataset.ready = "empty";
    return;
  }
  // undefined (no sample of this target at that time) is spanned; null (RSS unknown) is a gap.
  var data = uPlot.join(targets.map(function (s) { return [s.t, s.rss]; }));
  var series = [{}];
  targets.forEach(function (s) {
    series.push({
      label: s.label,
      stroke: s.color,
      width: 1.5,
      value: function (u, v) { return fmtBytes(v); }
    });
  });
  function width() { return Math.max(320, el.clientWidth || 900); }
  var plot = new uPlot({
    width: width(),
    height: 360,
    series: series,
    scales: { x: { time: true } },
    axes: [
      {},
      { size: 80, incrs: BYTE_STEPS, values: function (u, vals) { return vals.map(fmtBytes); } }
    ]
  }, data, el);
  window.addEventListener("resize", function () {
    plot.setSize({ width: width(), height: 360 });
  });
  el.dataset.ready = "1";
})();
"""
)
