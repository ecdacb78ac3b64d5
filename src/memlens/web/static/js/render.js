// Rendering, once per frame: the chart and everything that follows its visible range.

import { syncCards, updateCards } from "./cards.js";
import { chartData, chartModeChanged, makeChart } from "./chart.js";
import { EPS, WINDOWS } from "./constants.js";
import { considerDetail, currentSection, viewIsDownsampled } from "./detail.js";
import { updateGroupLegend } from "./grouplegend.js";
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
  if (chartModeChanged()) makeChart();
  var range = currentRange();
  var lo = range[0], hi = range[1];
  if (hi - lo < 1) { lo = hi - Math.max(state.interval * 10, 10); }
  ui.range = [lo, hi];

  considerDetail(lo, hi);
  var sec = currentSection();
  var view = sec && sec.hi >= range[0] - EPS && sec.lo <= range[1] + EPS ? composedView(sec, range) : baseView(range);
  ui.chart.setData(chartData(view));

  document.getElementById("chart-empty").hidden = store.times.length > 0;
  updateMarkerCount();
  syncCards();
  updateCards(view.colOf, view.i0, view.i1);
  updateTable(view.colOf, view.i0, view.i1);
  if (ui.grouped) updateGroupLegend();
  renderPython(range);
  renderSystem(range);
  updateChrome(range, view.i1 - view.i0, viewIsDownsampled(range[0], range[1]));
  if (detail.shown !== detail.answered) {
    // published once the answer is drawn, so a test that waits for it sees its points
    detail.shown = detail.answered;
    document.body.dataset.detailRequests = String(detail.answered);
  }
}

// The stored data for a range: its times with one point either side of the range (so
// lines run to the plot's edges, clipped there); i0..i1 the points inside it in colOf's
// columns (the cards' figures), r0..r1 the same rows of the view's own. src(k, which):
// a target's "rss" or "pss" column and the offset of the view's first row in it; col(k,
// which): that column cut to the view.
function baseView(range) {
  var times = store.times, n = times.length;
  var i0 = lowerBound(times, range[0] - EPS), i1 = upperBound(times, range[1] + EPS);
  var d0 = Math.max(0, i0 - 1), d1 = Math.min(n, i1 + 1);
  var whole = d0 === 0 && d1 === n;
  function src(k, which) {
    var col = (which === "pss" ? store.pss : store.cols).get(k);
    return col ? { col: col, off: d0 } : null;
  }
  return {
    times: whole ? times : times.slice(d0, d1), i0: i0, i1: i1, r0: i0 - d0, r1: i1 - d0,
    stored: true,   // rows are the store's (groupchart.js caches figures of them)
    colOf: function (k) { return store.cols.get(k); },
    src: src,
    col: function (k, which) { var s = src(k, which); return !s ? null : whole ? s.col : s.col.slice(d0, d1); },
  };
}

// The same with the detail section in place of the stored points within its span: the
// stored rows before it, the section's rows, the stored rows after it, sliced to the range.
// Targets without a part read their stored points at the section's stored rows (rowOf);
// only[j] marks the view's rows that are a part's time only. storedSrc is src without the
// parts: groupchart.js sums a group over the stored rows (a part is one member's finer
// points, and the others have none at its times) and draws the sums across the others.
function composedView(sec, range) {
  var times = store.times, n = times.length;
  var j0 = lowerBound(times, sec.lo - EPS), j1 = upperBound(times, sec.hi + EPS);
  var stored = { rss: store.cols, pss: store.pss };
  var parts = [
    { t: times, a: 0, b: j0, sec: false },
    { t: sec.times, a: 0, b: sec.times.length, sec: true },
    { t: times, a: j1, b: n, sec: false },
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
  // each part's rows within [d0, d1): the same slices for every column
  var slices = [], off = 0;
  parts.forEach(function (p) {
    var len = p.b - p.a, from = Math.max(d0 - off, 0), to = Math.min(d1 - off, len);
    off += len;
    if (from < to) slices.push({ p: p, s0: p.a + from, s1: p.a + to });
  });
  var outT = [], only = null, row = 0, rowOf = sec.rowOf;
  slices.forEach(function (sl) {
    Array.prototype.push.apply(outT, sl.p.t.slice(sl.s0, sl.s1));
    for (var i = sl.s0; i < sl.s1; i++, row++) {
      if (sl.p.sec && rowOf[i] < 0) { if (!only) only = new Uint8Array(d1 - d0); only[row] = 1; }
    }
  });
  var cache = new Map();
  // storedOnly: the stored points only, parts left out (a group's sum is of stored rows)
  function col(k, which, storedOnly) {
    which = which === "pss" ? "pss" : "rss";
    var ck = which + (storedOnly ? "!" : ":") + k;
    if (cache.has(ck)) return cache.get(ck);
    var c = stored[which].get(k), own = which === "rss" && !storedOnly ? sec.cols.get(k) : null;
    var out = null;
    if (c || own) {
      out = [];
      slices.forEach(function (sl) {
        var i;
        if (sl.p.sec && own) { for (i = sl.s0; i < sl.s1; i++) out.push(own[i]); }
        else if (sl.p.sec) { for (i = sl.s0; i < sl.s1; i++) out.push(rowOf[i] >= 0 ? c[rowOf[i]] : null); }
        else if (c) { for (i = sl.s0; i < sl.s1; i++) out.push(c[i]); }
        else { for (i = sl.s0; i < sl.s1; i++) out.push(null); }
      });
    }
    cache.set(ck, out);
    return out;
  }
  return {
    times: outT, i0: i0 - d0, i1: i1 - d0, r0: i0 - d0, r1: i1 - d0, only: only,
    colOf: function (k) { return col(k, "rss"); },
    src: function (k, which) { var c = col(k, which); return c ? { col: c, off: 0 } : null; },
    storedSrc: function (k, which) { var c = col(k, which, true); return c ? { col: c, off: 0 } : null; },
    col: function (k, which) { return col(k, which); },
  };
}
