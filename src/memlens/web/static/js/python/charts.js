// The Python panel's charts: the traced heap against RSS, and the collector's activity,
// on the RSS chart's time axis.

import { colorOf, gapLimitAt, legendToLatest, xRange, yRange } from "../chart.js";
import { EPS, FONT_STACK, PY_SYNC } from "../constants.js";
import { BYTE_INCRS, COUNT_INCRS, DASH, fmtBytes, fmtBytesAxis, fmtCountAxis, fmtThousands, fmtTimeAxis, fmtWhen } from "../format.js";
import { pyEl } from "./elements.js";
import { py, state, ui } from "../state.js";
import { lowerBound, upperBound } from "../store.js";
import { hexToRgba } from "../theme.js";
import { onSelect, setZoom } from "../zoom.js";

// a line breaks where consecutive values lie further apart than a few intervals
function pyGaps(u, sidx, i0, i1) {
  var xs = u.data[0], ys = u.data[sidx], out = [];
  if (!xs || !ys) return out;
  var limit = Math.max(state.interval * 3, 2), coarse = state.coarse.get(py.chartKey) || null;
  var prev = -1;
  for (var i = i0; i <= i1; i++) {
    if (ys[i] == null) continue;
    if (prev >= 0 && xs[i] - xs[prev] > Math.max(gapLimitAt(xs[prev], limit, coarse, null), gapLimitAt(xs[i], limit, coarse, null))) {
      var a = Math.round(u.valToPos(xs[prev], "x", true)), b = Math.round(u.valToPos(xs[i], "x", true));
      if (b > a) out.push([a, b]);
    }
    prev = i;
  }
  return out;
}

function pyAxes() {
  var common = {
    stroke: ui.theme.axis,
    font: "12px " + FONT_STACK,
    grid: { stroke: ui.theme.grid, width: 1 },
    ticks: { stroke: ui.theme.grid, width: 1, size: 5 },
  };
  return common;
}

function pyChartOpts(width, height, series, axes, scales) {
  return {
    width: width,
    height: height,
    legend: { live: true },
    cursor: {
      drag: { x: true, y: false, setScale: false },
      points: { size: 6 },
      sync: { key: PY_SYNC, scales: ["x", null] },
    },
    scales: Object.assign({ x: { time: true, range: xRange } }, scales),
    axes: axes,
    series: [{ label: "time", value: function (u, v) { return v == null ? DASH : fmtWhen(v); } }].concat(series),
    hooks: { setSelect: [onSelect], setCursor: [legendToLatest], setData: [legendToLatest] },
  };
}

function pyChartWidth(el) { return Math.max(200, Math.floor(el.clientWidth || 400)); }

export function pyMakeCharts(rec) {
  pyDestroyCharts();
  var common = pyAxes();
  var color = colorOf(rec.key);
  var heapOpts = pyChartOpts(pyChartWidth(pyEl.heapChart), 220, [
    {
      label: "RSS", stroke: color, width: 1.75, spanGaps: false, gaps: pyGaps, points: { show: false },
      fill: hexToRgba(color, ui.theme.dark ? 0.10 : 0.07),
      value: function (u, v) { return fmtBytes(v); },
    },
    {
      label: "traced Python heap", stroke: ui.theme.pyHeap, width: 2, dash: [6, 4], spanGaps: false, gaps: pyGaps,
      points: { show: false }, value: function (u, v) { return fmtBytes(v); },
    },
  ], [
    Object.assign({}, common, { values: fmtTimeAxis, space: 80 }),
    Object.assign({}, common, { values: fmtBytesAxis, incrs: BYTE_INCRS, size: 78, space: 30 }),
  ], { y: { range: yRange } });
  py.heapChart = new uPlot(heapOpts, [[], [], []], pyEl.heapChart);

  var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 10] }) : undefined;
  var gcOpts = pyChartOpts(pyChartWidth(pyEl.gcChart), 150, [
    {
      label: "gc collections per sample", scale: "n", stroke: ui.theme.pyGc, fill: hexToRgba(ui.theme.pyGc, 0.55),
      width: 1, paths: bars, points: { show: false },
      value: function (u, v) { return v == null ? DASH : fmtThousands(v); },
    },
    {
      label: "Python objects (allocator blocks)", scale: "blocks", stroke: ui.theme.pyBlocks, width: 1.5,
      spanGaps: false, gaps: pyGaps, points: { show: false },
      value: function (u, v) { return v == null ? DASH : fmtThousands(v); },
    },
  ], [
    Object.assign({}, common, { values: fmtTimeAxis, space: 80 }),
    Object.assign({}, common, { scale: "n", values: fmtCountAxis, incrs: COUNT_INCRS, size: 44, space: 24 }),
    Object.assign({}, common, { scale: "blocks", side: 1, values: fmtCountAxis, incrs: COUNT_INCRS, size: 60, space: 24, grid: { show: false } }),
  ], {
    n: { range: function (u, lo, hi) { return [0, Math.max(1, (hi || 0) * 1.15)]; } },
    blocks: {
      range: function (u, lo, hi) {
        if (lo == null || hi == null) return [0, 1];
        var span = Math.max(hi - lo, Math.abs(hi) * 0.02, 10);
        return [Math.max(0, lo - span * 0.15), hi + span * 0.15];
      },
    },
  });
  py.gcChart = new uPlot(gcOpts, [[], [], []], pyEl.gcChart);
  [py.heapChart, py.gcChart].forEach(function (u) {
    u.over.addEventListener("dblclick", function () { setZoom(null); });
  });
  py.chartKey = rec.key;
  py.dataSig = "";
}

export function pyDestroyCharts() {
  if (py.heapChart) py.heapChart.destroy();
  if (py.gcChart) py.gcChart.destroy();
  py.heapChart = py.gcChart = null;
  py.chartKey = null;
  py.dataSig = "";
}

export function pyResize() {
  [[py.heapChart, pyEl.heapChart], [py.gcChart, pyEl.gcChart]].forEach(function (pair) {
    var u = pair[0];
    if (!u) return;
    var w = pyChartWidth(pair[1]);
    if (w !== u.width) u.setSize({ width: w, height: u.height });
  });
}

// The panel's series over [lo, hi], one point either side; counts for the readouts.
export function pyView(ps, lo, hi) {
  var t = ps.t, n = t.length, c = ps.cols;
  var i0 = lowerBound(t, lo - EPS), i1 = upperBound(t, hi + EPS);
  var d0 = Math.max(0, i0 - 1), d1 = Math.min(n, i1 + 1);
  var limit = Math.max(state.interval * 3, 2) + EPS;
  var gcc = c.gc_collections, per = [];
  for (var i = d0; i < d1; i++) {
    var a = i > 0 ? gcc[i - 1] : null, b = gcc[i];
    per.push(a != null && b != null && t[i] - t[i - 1] <= limit ? Math.max(0, b - a) : null);
  }
  var heapPoints = 0, firstB = null, lastB = null;
  for (var j = i0; j < i1; j++) {
    if (c.py_heap[j] != null) heapPoints++;
    if (c.py_blocks[j] != null) { if (!firstB) firstB = { t: t[j], v: c.py_blocks[j] }; lastB = { t: t[j], v: c.py_blocks[j] }; }
  }
  return {
    t: t.slice(d0, d1), rss: c.rss.slice(d0, d1), heap: c.py_heap.slice(d0, d1),
    blocks: c.py_blocks.slice(d0, d1), perSample: per, heapPoints: heapPoints, firstBlocks: firstB, lastBlocks: lastB,
  };
}
