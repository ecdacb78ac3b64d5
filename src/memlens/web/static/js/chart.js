// The RSS chart: one uPlot series per target, drawn from the store; past a few processes,
// groups of them instead (groupchart.js).

import { EPS, FONT_STACK, PY_SYNC } from "./constants.js";
import { BYTE_INCRS, DASH, fmtBytes, fmtBytesAxis, fmtTimeAxis, fmtWhen } from "./format.js";
import { drawMarks } from "./chartmarks.js";
import { groupedData, groupedOptions, resetGrouped, wirePinClicks } from "./groupchart.js";
import { groupLegendCursor, showGroupLegend } from "./grouplegend.js";
import { wantGroups } from "./groups.js";
import { drawMarkerLines, drawMarkerShades } from "./markers.js";
import { pyResize } from "./python/charts.js";
import { needRender } from "./render.js";
import { detail, state, store, ui } from "./state.js";
import { labelOf } from "./targets.js";
import { hexToRgba } from "./theme.js";
import { onSelect, pan, setZoom } from "./zoom.js";

export var chartEl = document.getElementById("chart");

export function chartSize() {
  var w = Math.max(200, Math.floor(chartEl.clientWidth || 600));
  var h = Math.round(Math.max(220, Math.min(440, window.innerHeight * 0.46)));
  if (w < 560) h = Math.min(h, 300);
  return { width: w, height: h };
}

export function colorOf(key) {
  var i = store.order.indexOf(key);
  return ui.theme.palette[(i < 0 ? 0 : i) % ui.theme.palette.length];
}

function seriesOpts(key) {
  var rec = state.targets.get(key);
  var color = colorOf(key);
  var isSum = rec && rec.kind === "sum";
  var opts = {
    label: rec ? labelOf(rec) : key,
    stroke: color,
    width: isSum ? 2.25 : 1.75,
    spanGaps: false,
    gaps: refineGaps,
    points: { show: false },
    value: function (u, v) { return fmtBytes(v); },
  };
  if (!isSum) {
    var fill = hexToRgba(color, ui.theme.dark ? 0.12 : 0.08);
    // shade the area only while one process is charted: stacked shades turn to mud
    opts.fill = function () { return processSeriesCount() <= 1 ? fill : null; };
  }
  return opts;
}

// How many series are processes (not a tree's sum). uPlot asks each series for its fill
// on every draw: counted once per set of series, not once per series per draw.
var counted = { chart: null, series: -1, targets: -1, n: 0 };
export function processSeriesCount() {
  if (counted.chart === ui.chart && counted.series === ui.chartKeys.length &&
      counted.targets === state.targets.size) return counted.n;
  var n = 0;
  for (var i = 0; i < ui.chartKeys.length; i++) {
    var rec = state.targets.get(ui.chartKeys[i]);
    if (!rec || rec.kind !== "sum") n++;
  }
  counted = { chart: ui.chart, series: ui.chartKeys.length, targets: state.targets.size, n: n };
  return n;
}

// Where the line breaks: between two consecutive values of a series that lie further
// apart in time than a few sampling intervals (the server was down, the target was not
// sampled). A null that only means "another target has a row here" does not break it.
// Bucketed points lie further apart than samples: there the limit follows their spacing.
function refineGaps(u, sidx, i0, i1) {
  var xs = u.data[0], ys = u.data[sidx], out = [];
  if (!xs || !ys) return out;
  var limit = Math.max(state.interval * 3, 2);
  var key = ui.chartKeys[sidx - 1];
  var coarse = state.coarse.get(key) || null, part = detail.parts.get(key) || null;
  var prev = -1;
  for (var i = i0; i <= i1; i++) {
    if (ys[i] == null) continue;
    if (prev >= 0 && xs[i] - xs[prev] > limit &&
        xs[i] - xs[prev] > Math.max(gapLimitAt(xs[prev], limit, coarse, part), gapLimitAt(xs[i], limit, coarse, part))) {
      var a = Math.round(u.valToPos(xs[prev], "x", true));
      var b = Math.round(u.valToPos(xs[i], "x", true));
      if (b > a) out.push([a, b]);
    }
    prev = i;
  }
  return out;
}

export function gapLimitAt(t, limit, coarse, part) {
  if (part && t >= part.lo - EPS && t <= part.hi + EPS) return part.bucketed ? Math.max(limit, part.gap) : limit;
  if (coarse && t >= coarse.lo - EPS && t <= coarse.hi + EPS) return Math.max(limit, coarse.gap);
  return limit;
}

export function xRange(u, dmin, dmax) {
  if (ui.range) return [ui.range[0], ui.range[1]];
  if (dmin == null) { var now = Date.now() / 1000; return [now - 60, now]; }
  return dmin === dmax ? [dmin - 1, dmax + 1] : [dmin, dmax];
}

export function yRange(u, dmin, dmax) {
  if (dmin == null || dmax == null || !isFinite(dmin) || !isFinite(dmax)) return [0, 64 * 1048576];
  var span = Math.max(dmax - dmin, Math.abs(dmax) * 0.05, 1048576);
  var lo = dmin - span * 0.12, hi = dmax + span * 0.12;
  if (lo < 0 || dmin - lo > dmin * 0.9) lo = 0;
  return [lo, hi];
}

// Made again when the page passes from a few targets to groups of them (or back).
export function chartModeChanged() { return !ui.chart || ui.grouped !== wantGroups(); }

export function makeChart() {
  if (ui.chart) { ui.chart.destroy(); ui.chart = null; }
  ui.grouped = wantGroups();
  resetGrouped();
  var size = chartSize();
  var axisCommon = {
    stroke: ui.theme.axis,
    font: "12px " + FONT_STACK,
    grid: { stroke: ui.theme.grid, width: 1 },
    ticks: { stroke: ui.theme.grid, width: 1, size: 5 },
  };
  var opts = {
    width: size.width,
    height: size.height,
    legend: { live: true },
    cursor: {
      drag: { x: true, y: false, setScale: false },
      points: { size: 7 },
      focus: { prox: 24 },
      sync: { key: PY_SYNC, scales: ["x", null] },   // with the Python panel's charts
    },
    focus: { alpha: 0.35 },
    scales: {
      x: { time: true, range: xRange },
      y: { range: yRange },
    },
    axes: [
      Object.assign({}, axisCommon, { values: fmtTimeAxis, space: 80 }),
      Object.assign({}, axisCommon, { values: fmtBytesAxis, incrs: BYTE_INCRS, size: 78, space: 36 }),
    ],
    series: [{ label: "time", value: function (u, v) { return v == null ? DASH : fmtWhen(v); } }],
    hooks: {
      setSelect: [onSelect],
      // with the pointer off the chart, the legend shows the newest values
      setCursor: [legendToLatest],
      setData: [legendToLatest],
      // alert markers: the leak windows under the lines, the alert times over them;
      // the program's marks over them too
      drawAxes: [drawMarkerShades],
      draw: [drawMarkerLines, drawMarks],
    },
  };
  if (ui.grouped) {
    groupedOptions(opts, axisCommon, yRange);
    opts.hooks.setCursor.push(groupLegendCursor);
  }
  ui.chart = new uPlot(opts, [[]], chartEl);
  ui.chartKeys = [];
  chartEl.setAttribute("data-grouped", ui.grouped ? "true" : "false");
  showGroupLegend(ui.grouped);
  if (ui.grouped) wirePinClicks(ui.chart);
  else store.order.forEach(function (k) { addChartSeries(k); });
  ui.chart.over.addEventListener("dblclick", function () { setZoom(null); });
  // pan: a sideways wheel or shift+wheel over the chart, or the arrow keys
  ui.chart.over.addEventListener("wheel", function (e) {
    var d = Math.abs(e.deltaX) > Math.abs(e.deltaY) ? e.deltaX : (e.shiftKey ? e.deltaY : 0);
    if (!d) return;
    e.preventDefault();
    pan(d > 0 ? 0.1 : -0.1);
  }, { passive: false });
}

export function chartHasSeries(key) { return ui.chartKeys.indexOf(key) >= 0; }

export function addChartSeries(key) {
  if (!ui.chart || ui.grouped || chartHasSeries(key)) return;
  ui.chart.addSeries(seriesOpts(key), ui.chartKeys.length + 1);
  ui.chartKeys.push(key);
  needRender();
}

export function relabelSeries(key) {
  if (!ui.chart || ui.grouped) return;
  var i = ui.chartKeys.indexOf(key);
  var rec = state.targets.get(key);
  if (i < 0 || !rec) return;
  var label = labelOf(rec);
  var s = ui.chart.series[i + 1];
  if (s.label === label) return;
  s.label = label;
  var th = ui.chart.root.querySelectorAll(".u-legend .u-series")[i + 1];
  var lab = th && th.querySelector(".u-label");
  if (lab) lab.textContent = label;
}

// The chart's data for a view (render.js): each target's RSS, or the groups' series.
export function chartData(view) {
  if (ui.grouped) return groupedData(view);
  var data = [view.times];
  ui.chartKeys.forEach(function (k) { data.push(view.col(k, "rss") || new Array(view.times.length).fill(null)); });
  return data;
}

export function legendToLatest(u) {
  if (u === ui.chart && ui.grouped) return;   // grouplegend.js shows the values
  var n = u.data && u.data[0] ? u.data[0].length : 0;
  if (u.cursor.idx == null && n > 0 && !legendBusy) {
    // each series at its own newest value (an exited target keeps its last one)
    var idxs = [n - 1];
    for (var si = 1; si < u.series.length; si++) {
      var ys = u.data[si], j = n - 1;
      while (j >= 0 && ys && ys[j] == null) j--;
      idxs.push(j >= 0 ? j : null);
    }
    legendBusy = true;
    try { u.setLegend({ idxs: idxs }, false); } finally { legendBusy = false; }
  }
}
var legendBusy = false;

var resizePending = false;
export function onResize() {
  if (resizePending) return;
  resizePending = true;
  requestAnimationFrame(function () {
    resizePending = false;
    if (!ui.chart) return;
    var s = chartSize();
    if (s.width !== ui.chart.width || s.height !== ui.chart.height) ui.chart.setSize(s);
    pyResize();
  });
}
