// Rendering, once per frame: the chart and everything that follows its visible range.

import { syncCards, updateCards } from "./cards.js";
import { makeChart } from "./chart.js";
import { EPS, WINDOWS } from "./constants.js";
import { considerDetail, currentSection, viewIsDownsampled } from "./detail.js";
import { updateChrome } from "./header.js";
import { updateMarkerCount } from "./markers.js";
import { renderPython } from "./python/panel.js";
import { detail, state, store, ui } from "./state.js";
import { lowerBound, upperBound } from "./store.js";
import { renderSystem } from "./system.js";
import { updateTable } from "./table.js";

var rafId = 0;

export function needRender() {
  if (!rafId) rafId = requestAnimationFrame(render);
}

export function renderNow() {
  if (rafId) { cancelAnimationFrame(rafId); rafId = 0; }
  render();
}

export function currentRange() {
  var times = store.times, n = times.length;
  if (state.zoom) return state.zoom;
  var W = WINDOWS[state.windowKey];
  if (!n) {
    var now = Date.now() / 1000 + state.clockSkew;
    return [now - (isFinite(W) ? W : 600), now];
  }
  var first = times[0], last = times[n - 1];
  var lo = isFinite(W) ? Math.max(first, last - W) : first;
  return [lo, last];
}

export function render() {
  rafId = 0;
  if (!ui.chart) makeChart();
  var range = currentRange();
  var lo = range[0], hi = range[1];
  if (hi - lo < 1) { lo = hi - Math.max(state.interval * 10, 10); }
  ui.range = [lo, hi];

  considerDetail(lo, hi);
  var sec = currentSection();
  var view = sec && sec.hi >= range[0] - EPS && sec.lo <= range[1] + EPS ? composedView(sec, range) : baseView(range);
  ui.chart.setData(view.data);

  document.getElementById("chart-empty").hidden = store.times.length > 0;
  updateMarkerCount();
  syncCards();
  updateCards(view.colOf, view.i0, view.i1);
  updateTable(view.colOf, view.i0, view.i1);
  renderPython(range);
  renderSystem(range);
  updateChrome(range, view.i1 - view.i0, viewIsDownsampled(range[0], range[1]));
  if (detail.shown !== detail.answered) {
    // published once the answer is drawn, so a test that waits for it sees its points
    detail.shown = detail.answered;
    document.body.dataset.detailRequests = String(detail.answered);
  }
}

// The stored data for a range: [times, col...] with one point either side of the range
// (so lines run to the plot's edges, clipped there); i0..i1 the points inside it.
function baseView(range) {
  var times = store.times, n = times.length;
  var i0 = lowerBound(times, range[0] - EPS), i1 = upperBound(times, range[1] + EPS);
  var d0 = Math.max(0, i0 - 1), d1 = Math.min(n, i1 + 1);
  var data;
  if (d0 === 0 && d1 === n) {
    data = [times];
    ui.chartKeys.forEach(function (k) { data.push(store.cols.get(k)); });
  } else {
    data = [times.slice(d0, d1)];
    ui.chartKeys.forEach(function (k) { data.push(store.cols.get(k).slice(d0, d1)); });
  }
  return { data: data, i0: i0, i1: i1, colOf: function (k) { return store.cols.get(k); } };
}

// The same with the detail section in place of the stored points within its span: the
// stored rows before it, the section's rows, the stored rows after it, sliced to the range.
function composedView(sec, range) {
  var times = store.times, n = times.length;
  var j0 = lowerBound(times, sec.lo - EPS), j1 = upperBound(times, sec.hi + EPS);
  var parts = [
    { t: times, a: 0, b: j0, col: function (k) { return store.cols.get(k); } },
    { t: sec.times, a: 0, b: sec.times.length, col: function (k) { return sec.cols.get(k); } },
    { t: times, a: j1, b: n, col: function (k) { return store.cols.get(k); } },
  ];
  function clamp(x, a, b) { return x < a ? a : x > b ? b : x; }
  function below(x, bound) {   // how many composed rows lie before x
    var c = 0;
    parts.forEach(function (p) { c += clamp(bound(p.t, x), p.a, p.b) - p.a; });
    return c;
  }
  var total = parts.reduce(function (c, p) { return c + p.b - p.a; }, 0);
  var i0 = below(range[0] - EPS, lowerBound), i1 = below(range[1] + EPS, upperBound);
  var d0 = Math.max(0, i0 - 1), d1 = Math.min(total, i1 + 1);
  // the pieces of each part in the range, then every column as slices of them joined
  // (native copies: with a thousand targets a value at a time is most of a frame)
  var pieces = [], off = 0, outT = [];
  parts.forEach(function (p) {
    var len = p.b - p.a, from = Math.max(d0 - off, 0), to = Math.min(d1 - off, len);
    off += len;
    if (from >= to) return;
    pieces.push({ p: p, s0: p.a + from, s1: p.a + to });
    outT = outT.concat(p.t.slice(p.a + from, p.a + to));
  });
  var outCols = ui.chartKeys.map(function (k) {
    var slices = pieces.map(function (q) {
      var col = q.p.col(k);
      return col ? col.slice(q.s0, q.s1) : new Array(q.s1 - q.s0).fill(null);
    });
    return slices.length === 1 ? slices[0] : [].concat.apply([], slices);
  });
  var byKey = new Map();
  ui.chartKeys.forEach(function (k, ci) { byKey.set(k, outCols[ci]); });
  return {
    data: [outT].concat(outCols), i0: i0 - d0, i1: i1 - d0,
    colOf: function (k) { return byKey.get(k); },
  };
}
