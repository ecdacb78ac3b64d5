// For a process that runs the Python agent (target.python, or samples whose Python fields
// are known): the traced heap drawn against RSS on the main chart's time axis (the gap is
// what tracemalloc does not see), the garbage collector's activity and pauses, and the
// allocation sites that grow fastest ("python" messages, see docs/protocol.md). One
// panel; a selector picks the process when several run an agent.
//
// This module: each process's Python data (rec.py), from samples, series and "python"
// messages.

import { EPS, PY_COLS, PY_FIELDS, PY_PAUSES_SHOWN, TRIM_SLACK } from "../constants.js";
import { needRender } from "../render.js";
import { state, store } from "../state.js";
import { lowerBound, upperBound } from "../store.js";
import { targetFor } from "../targets.js";
import { num, pick } from "../util.js";

function pyNew() {
  var cols = {};
  PY_COLS.forEach(function (c) { cols[c] = []; });
  return {
    t: [], cols: cols, version: 0,
    any: false,                  // some Python field was known: the process runs an agent
    latest: { t: -Infinity },    // the newest sample's values
    pending: null,               // {tracing, until}: the switch's answer, until samples agree
    busy: false, error: "",
    frames: 0, since: null,      // tracing depth and start, from the switch's answer
    top: null, topVersion: 0,    // latest "top" answer: {t, data}
    objects: null, objectsVersion: 0, objectsNote: "",   // latest "objects" part: {t, data}
    gcLastT: -Infinity, gcVersion: 0,
    gc: { count: 0, total: 0, max: null, since: null, dropped: 0, last: null, pauses: [] },
  };
}

// The record's Python state, made on first use with the RSS the store holds already.
export function pyOf(rec) {
  if (rec.py) return rec.py;
  var ps = rec.py = pyNew();
  var col = store.cols.get(rec.key);
  if (col) {
    for (var i = 0; i < col.length; i++) {
      if (col[i] === null) continue;
      ps.t.push(store.times[i]);
      PY_COLS.forEach(function (c) { ps.cols[c].push(c === "rss" ? col[i] : null); });
    }
  }
  return ps;
}

export function pyEligible(rec) { return !!rec.python || !!(rec.py && rec.py.any); }

function pyHasValues(vals) {
  for (var i = 0; i < PY_FIELDS.length; i++) if (vals[PY_FIELDS[i]] != null) return true;
  return false;
}

function pyTrim(ps) {
  var n = ps.t.length;
  if (n <= state.cap + TRIM_SLACK) return;
  var drop = n - state.cap;
  ps.t.splice(0, drop);
  PY_COLS.forEach(function (c) { ps.cols[c].splice(0, drop); });
}

function pyNoteLatest(ps, t, vals) {
  if (t < ps.latest.t) return;
  var l = { t: t };
  PY_COLS.forEach(function (c) { l[c] = vals[c] == null ? null : +vals[c]; });
  ps.latest = l;
  // the switch's answer holds until a sample agrees with it (a tick read before the
  // switch may still say the old state), or for a few intervals at most
  if (ps.pending && ((l.py_heap != null) === ps.pending.tracing || Date.now() > ps.pending.until)) ps.pending = null;
}

// One live sample of a target (before the store's row is added).
export function pyOnSample(rec, t, vals) {
  var has = pyHasValues(vals);
  if (!rec.py && !rec.python && !has) return;
  var ps = pyOf(rec);
  if (has) ps.any = true;
  var n = ps.t.length;
  if (n === 0 || t > ps.t[n - 1] + EPS) {
    ps.t.push(t);
    PY_COLS.forEach(function (c) { ps.cols[c].push(vals[c] == null ? null : +vals[c]); });
    pyTrim(ps);
  } else {
    var one = {};
    PY_COLS.forEach(function (c) { one[c] = [vals[c]]; });
    pyMerge(ps, [t], one);
  }
  ps.version++;
  pyNoteLatest(ps, t, vals);
}

// A series of a target (backfill, gap fill): sorted times, columns by name.
export function pyOnSeries(rec, t, cols) {
  if (!t.length) return;
  var has = false;
  for (var f = 0; f < PY_FIELDS.length && !has; f++) {
    var col = cols[PY_FIELDS[f]];
    for (var i = 0; col && i < col.length; i++) if (col[i] != null) { has = true; break; }
  }
  if (!rec.py && !rec.python && !has) return;
  var ps = pyOf(rec);
  if (has) ps.any = true;
  pyMerge(ps, t, cols);
  ps.version++;
  var last = t.length - 1, vals = {};
  PY_COLS.forEach(function (c) { vals[c] = pick(cols[c], last); });
  pyNoteLatest(ps, t[last], vals);
}

// Within [first, last] of the incoming times, the incoming points replace what is held.
function pyMerge(ps, t, cols) {
  var a = lowerBound(ps.t, t[0] - EPS), b = upperBound(ps.t, t[t.length - 1] + EPS);
  var keep = [], prev = -Infinity;
  for (var j = 0; j < t.length; j++) {
    if (t[j] > prev + EPS) { keep.push(j); prev = t[j]; }
  }
  var tIn = keep.map(function (j) { return +t[j]; });
  ps.t = ps.t.slice(0, a).concat(tIn, ps.t.slice(b));
  PY_COLS.forEach(function (c) {
    var src = cols[c], held = ps.cols[c];
    var vIn = keep.map(function (j) { var v = pick(src, j); return v == null ? null : +v; });
    ps.cols[c] = held.slice(0, a).concat(vIn, held.slice(b));
  });
  pyTrim(ps);
}

// A "python" message: the top allocation sites, or the gc pauses since the last ask.
export function onPython(msg) {
  if (!msg || typeof msg.key !== "string") return;
  var rec = targetFor(msg.key);
  var ps = pyOf(rec);
  ps.any = true;
  var t = num(msg.t);
  if (t == null) t = Date.now() / 1000 + state.clockSkew;
  if (msg.top && typeof msg.top === "object" && (!ps.top || t > ps.top.t)) {
    ps.top = { t: t, data: msg.top };
    ps.topVersion++;
  }
  if (msg.objects && typeof msg.objects === "object" && (!ps.objects || t > ps.objects.t)) {
    ps.objects = { t: t, data: msg.objects };
    ps.objectsNote = "";
    ps.objectsVersion++;
  }
  if (msg.gc && typeof msg.gc === "object" && t > ps.gcLastT) {
    // each answer holds the pauses since the previous ask; a backfill repeats the latest
    ps.gcLastT = t;
    var g = msg.gc, acc = ps.gc;
    acc.count += Math.max(0, num(g.count) || 0);
    acc.total += Math.max(0, num(g.total_s) || 0);
    if (num(g.max_s) != null && (acc.max == null || +g.max_s > acc.max)) acc.max = +g.max_s;
    if (acc.since == null) acc.since = num(g.since) != null ? +g.since : t;
    acc.dropped += Math.max(0, num(g.dropped) || 0);
    acc.last = { t: t, count: num(g.count), total: num(g.total_s), max: num(g.max_s), collecting: g.collecting !== false };
    (Array.isArray(g.pauses) ? g.pauses : []).forEach(function (p) {
      if (p && typeof p === "object" && num(p.duration_s) != null) acc.pauses.push(p);
    });
    acc.pauses.sort(function (x, y) { return (num(y.time) || 0) - (num(x.time) || 0); });
    if (acc.pauses.length > PY_PAUSES_SHOWN) acc.pauses.length = PY_PAUSES_SHOWN;
    ps.gcVersion++;
  }
  needRender();
}

export function pyTracing(rec, ps) {
  if (ps.pending && Date.now() <= ps.pending.until) return ps.pending.tracing;
  if (ps.any && ps.latest.t > -Infinity) return ps.latest.py_heap != null;
  return !!(rec.python && rec.python.tracing);
}

export function pyFrames(rec, ps) {
  if (ps.frames > 0) return ps.frames;
  return rec.python && +rec.python.frames > 0 ? +rec.python.frames : 0;
}
