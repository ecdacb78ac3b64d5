// The backfill may begin with M4 buckets (first/min/max/last RSS per time bucket, the
// older history from the store): state.coarse spans them per target. When the visible
// range shows such a part closer than its buckets can, /api/range is asked for that range
// ("detail", raw samples when few) and drawn in place of the stored points within it;
// the store keeps the base data, so leaving the zoom shows the overview again.
// Only for the targets the chart draws as lines (in groups: the top members and the pinned
// ones): with 1,000 targets, one request per target would be 1,000 requests a view.

import { chartSize } from "./chart.js";
import { DETAIL_DEBOUNCE, DETAIL_PAD, EPS } from "./constants.js";
import { getJSON } from "./http.js";
import { needRender } from "./render.js";
import { detail, grouping, state, store, ui } from "./state.js";
import { lowerBound, unionSorted, upperBound } from "./store.js";

function plotWidth() {
  var w = ui.chart && ui.chart.over ? ui.chart.over.clientWidth : 0;
  return Math.max(50, Math.round(w || chartSize().width - 90));
}

function viewSig() {
  return state.backfills + "|" + (state.zoom ? "z" + state.zoom[0] + "," + state.zoom[1] : "w" + state.windowKey);
}

// The targets the chart draws as their own lines: only those are worth finer points (a
// group's sum and band are drawn from the stored points).
function drawnKeys() {
  var out = new Set();
  if (ui.grouped) grouping.specs.forEach(function (s) { if (s.key) out.add(s.key); });
  else ui.chartKeys.forEach(function (k) { out.add(k); });
  return out;
}

// What the view [lo, hi] needs: need = ranges to fetch (per target), drop = parts no
// longer useful (out of view, or the view shows the whole overview again).
function detailPlan(lo, hi) {
  var width = plotWidth(), pad = Math.max((hi - lo) * DETAIL_PAD, state.interval * 2);
  var need = [], drop = [], drawn = drawnKeys();
  state.coarse.forEach(function (c, key) {
    var p = detail.parts.get(key);
    var a = Math.max(lo, c.lo), b = Math.min(hi, c.hi);
    if (a > b || (lo <= c.lo + EPS && hi >= c.hi - EPS) || !state.targets.has(key) || !drawn.has(key)) {
      if (p) drop.push(key);
      return;
    }
    var covered = !!p && p.lo <= a + EPS && p.hi >= b - EPS;
    // buckets per second of what would be drawn there: a part's are known; the backfill's
    // are at least a quarter of its points (M4: up to four per bucket), so guess low
    var density = covered
      ? (p.bucketed ? p.buckets / Math.max(p.hi - p.lo, EPS) : Infinity)
      : c.count / 4 / Math.max(c.hi - c.lo, EPS);
    // fine enough: a bucket for every two pixels or better
    if (b - a <= EPS || density * (b - a) >= width / 2) {
      if (p && !covered) drop.push(key);
      return;
    }
    var q = { key: key, lo: Math.max(lo - pad, c.lo), hi: Math.min(hi + pad, c.hi), buckets: width };
    // never ask again for what is shown already (the answer could not be finer)
    if (p && Math.abs(p.lo - q.lo) <= EPS && Math.abs(p.hi - q.hi) <= EPS && p.buckets >= q.buckets) return;
    need.push(q);
  });
  return { need: need, drop: drop };
}

function abortDetail() {
  clearTimeout(detail.timer);
  detail.timer = 0;
  detail.gen++;
  if (detail.inflight) {
    detail.inflight.controllers.forEach(function (c) { if (c) c.abort(); });
    detail.inflight = null;
  }
}

export function clearDetail() {
  abortDetail();
  if (detail.parts.size) { detail.parts.clear(); detail.partsVersion++; }
  detail.section = null;
}

// Called by render with the range it draws.
export function considerDetail(lo, hi) {
  if (!state.coarse.size) { if (detail.parts.size || detail.inflight) clearDetail(); return; }
  var sig = viewSig();
  var changed = sig !== detail.sig;
  if (changed) { detail.sig = sig; abortDetail(); }   // answers for the old view are stale
  var plan = detailPlan(lo, hi);
  if (plan.drop.length) {
    plan.drop.forEach(function (k) { detail.parts.delete(k); });
    detail.partsVersion++;
  }
  if (!plan.need.length || detail.failedSig === sig) {
    clearTimeout(detail.timer);
    detail.timer = 0;
    return;
  }
  if (detail.inflight) return;   // same view (a live window slides): its answer is on the way
  // a new view restarts the wait; a sliding one does not postpone it forever
  if (changed || !detail.timer) {
    clearTimeout(detail.timer);
    detail.timer = setTimeout(fetchDetail, DETAIL_DEBOUNCE);
  }
}

function fetchDetail() {
  detail.timer = 0;
  if (!ui.range) return;
  var plan = detailPlan(ui.range[0], ui.range[1]);
  if (!plan.need.length) return;
  var gen = ++detail.gen, sig = detail.sig;
  var job = { gen: gen, left: plan.need.length, controllers: [], failed: false };
  detail.inflight = job;
  plan.need.forEach(function (q) {
    var ctl = window.AbortController ? new AbortController() : null;
    job.controllers.push(ctl);
    var path = "api/range?target=" + encodeURIComponent(q.key) + "&start=" + q.lo + "&end=" + q.hi + "&buckets=" + q.buckets;
    getJSON(path, ctl ? ctl.signal : undefined)
      .then(function (body) {
        if (gen !== detail.gen) return;   // a range no longer shown
        acceptDetail(q, body);
      })
      .catch(function (e) {
        if (gen === detail.gen && !(e && e.name === "AbortError")) job.failed = true;
      })
      .then(function () {
        if (detail.inflight !== job) return;
        if (--job.left > 0) return;
        detail.inflight = null;
        if (job.failed) detail.failedSig = sig;
        needRender();
      });
  });
  needRender();   // "loading detail…"
}

function acceptDetail(q, body) {
  if (!body || !Array.isArray(body.t) || !Array.isArray(body.rss)) return;
  var t = [], v = [], last = -Infinity;
  for (var i = 0; i < body.t.length; i++) {
    var x = +body.t[i];
    if (!(x >= q.lo - EPS && x <= q.hi + EPS) || x <= last + EPS) continue;   // in range, ascending
    t.push(x);
    v.push(body.rss[i] == null ? null : +body.rss[i]);
    last = x;
  }
  var bucketed = !!body.bucketed;
  detail.parts.set(q.key, {
    lo: q.lo, hi: q.hi, buckets: q.buckets, t: t, v: v, n: t.length, bucketed: bucketed,
    // consecutive M4 points of unbroken data lie at most a bucket apart
    gap: bucketed ? 2 * (q.hi - q.lo) / q.buckets + state.interval : 0,
  });
  detail.partsVersion++;
  detail.answered++;
  needRender();
}

// The parts merged into one aligned block over their span: its times (the stored ones
// there and the parts'), rowOf[j] the stored row of time j (-1: a part's time only), and
// the columns of the targets with a part (stored points outside the part's own span); the
// others read the stored columns through rowOf. Rebuilt only when the parts or the store
// change, in time linear in the rows (never per target: there may be 1,000).
export function currentSection() {
  if (!detail.parts.size) { detail.section = null; return null; }
  var sec = detail.section;
  if (sec && sec.version === store.version && sec.partsVersion === detail.partsVersion) return sec;
  var lo = Infinity, hi = -Infinity;
  detail.parts.forEach(function (p) { if (p.lo < lo) lo = p.lo; if (p.hi > hi) hi = p.hi; });
  var times = store.times;
  var a = lowerBound(times, lo - EPS), b = upperBound(times, hi + EPS);
  var ut = times.slice(a, b);
  detail.parts.forEach(function (p) { ut = unionSorted(ut, p.t); });
  var rowOf = new Int32Array(ut.length), r = a;
  for (var j = 0; j < ut.length; j++) {
    while (r < b && times[r] < ut[j] - EPS) r++;
    rowOf[j] = r < b && Math.abs(times[r] - ut[j]) <= EPS ? r : -1;
  }
  var cols = new Map();
  detail.parts.forEach(function (p, k) {
    var col = store.cols.get(k), out = new Array(ut.length).fill(null), q = 0;
    for (var i = 0; i < ut.length; i++) {
      var x = ut[i];
      if (x >= p.lo - EPS && x <= p.hi + EPS) {
        while (q < p.n && p.t[q] < x - EPS) q++;
        if (q < p.n && Math.abs(p.t[q] - x) <= EPS) out[i] = p.v[q];
      } else if (col && rowOf[i] >= 0) out[i] = col[rowOf[i]];
    }
    cols.set(k, out);
  });
  sec = { lo: lo, hi: hi, times: ut, rowOf: rowOf, cols: cols, version: store.version, partsVersion: detail.partsVersion };
  detail.section = sec;
  return sec;
}

// Whether what the range shows of some target is still buckets (for the subtitle).
export function viewIsDownsampled(lo, hi) {
  var out = false;
  state.coarse.forEach(function (c, key) {
    if (out || c.lo > hi || c.hi < lo) return;
    var p = detail.parts.get(key);
    if (p && !p.bucketed && p.lo <= Math.max(lo, c.lo) + EPS && p.hi >= Math.min(hi, c.hi) - EPS) return;
    out = true;
  });
  return out;
}

export function detailLoading() { return !!(detail.inflight || detail.timer); }
