// Targets in groups, as the chart draws them past a few processes: which group a process
// is in, a group's honest sum and mean per process, its top members and the others.
//
// Mirrors analysis/groups.py, so that a group is the same thing on the page as in `top`,
// the exports and the alerts: honest_sum (PSS where a member's PSS is known, its RSS
// where not, and which of them the sum is), top_and_others (largest first, ties by key,
// unknown values last) and MEASURE_TEXT (the sentence that says which measure a sum is).

import { GROUPED_AT } from "./constants.js";
import { state } from "./state.js";

export var PSS = "pss", RSS = "rss", MIXED = "pss+rss";

// analysis/groups.MEASURE_TEXT, word for word
export var MEASURE_TEXT = {
  pss: "PSS: shared pages counted once, divided among the processes sharing them",
  rss: "RSS: the PSS was unreadable, so shared pages count once per process",
  "pss+rss": "PSS, with RSS for the members whose PSS was unreadable",
};

// What the chart says a sum is: "sum: PSS".
export function measureName(measure) {
  return measure === PSS ? "PSS" : measure === RSS ? "RSS" : measure === MIXED ? "PSS+RSS" : "";
}

// The chart draws groups once more than GROUPED_AT processes are watched.
export function wantGroups() {
  var n = 0;
  state.targets.forEach(function (rec) { if (rec.kind !== "sum") n++; });
  return n > GROUPED_AT;
}

// A process's group: the label the server gave under --group-by, else its name.
export function groupOf(rec) {
  var g = typeof rec.group === "string" && rec.group ? rec.group : rec.name;
  return typeof g === "string" && g ? g : "?";
}

// The watched targets by group, in the order their first member came: groups of two or
// more processes, processes alone in their group (drawn as themselves), and the sums of
// process trees (`--children`: "total (pid N + children)").
export function collectGroups() {
  var byLabel = new Map(), totals = [];
  state.targets.forEach(function (rec) {
    if (rec.kind === "sum") { totals.push(rec.key); return; }
    var label = groupOf(rec);
    var g = byLabel.get(label);
    if (!g) { g = { label: label, keys: [] }; byLabel.set(label, g); }
    g.keys.push(rec.key);
  });
  var groups = [], singles = [];
  byLabel.forEach(function (g) {
    if (g.keys.length > 1) groups.push(g);
    else singles.push(g.keys[0]);
  });
  return { groups: groups, singles: singles, totals: totals };
}

// analysis/groups.top_and_others: the n keys with the largest values and the rest.
export function topAndOthers(values, keys, n) {
  var ranked = keys.slice().sort(function (a, b) {
    var va = values.get(a), vb = values.get(b);
    var na = va == null, nb = vb == null;
    if (na !== nb) return na ? 1 : -1;
    if (!na && va !== vb) return vb - va;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  n = Math.max(0, n);
  return { top: ranked.slice(0, n), others: ranked.slice(n) };
}

// How each member ranks: its newest RSS (none once it exited), or its growth over the visible range (newest
// minus oldest value in view). src(k) -> {col, off} or null: a member's RSS column, its
// data row j at col[off + j]; rows r0..r1 (data rows) are the visible ones.
export function rankValues(keys, by, src, r0, r1) {
  var out = new Map();
  keys.forEach(function (k) {
    var s = src(k), first = null, last = null;
    if (s) {
      for (var j = r0; j < r1; j++) { var a = s.col[s.off + j]; if (a != null) { first = a; break; } }
      for (var i = r1 - 1; i >= r0; i--) { var b = s.col[s.off + i]; if (b != null) { last = b; break; } }
    }
    if (by === "growth") out.set(k, first == null || last == null ? null : last - first);
    else {
      // an exited process has no RSS now: it ranks last
      var rec = state.targets.get(k);
      var now = rec && rec.latest && rec.latest.rss != null ? rec.latest.rss : last;
      out.set(k, now == null || (rec && rec.state === "exited") ? null : now);
    }
  });
  return out;
}

// A group's columns over the data rows (0..rows): its honest sum and mean per process, and
// the others' RSS from min to max. rss(k), pss(k) -> {col, off} or null (as in rankValues).
// measure: what the newest row's sum is (PSS, RSS or both), as honest_sum says it.
// cache (optional): {times, rows: Map time -> a row's figures} of earlier calls with the
// same members and others over the same stored rows: a row found there is not summed again.
export function deriveGroup(keys, others, rss, pss, rows, cache) {
  var sum = new Array(rows), mean = new Array(rows), lo = new Array(rows), hi = new Array(rows);
  var counts = new Array(rows);
  var ms = keys.map(function (k) { return { r: rss(k), p: pss(k) }; });
  var os = others.map(function (k) { return rss(k); }).filter(Boolean);
  var measure = null, last = -1;
  for (var j = 0; j < rows; j++) {
    var f = cache ? cache.rows.get(cache.times[j]) : undefined;
    if (!f) {
      f = rowFigures(ms, os, j);
      if (cache) cache.rows.set(cache.times[j], f);
    }
    counts[j] = f.count;
    sum[j] = f.sum;
    mean[j] = f.count ? f.sum / f.count : null;
    if (f.count) { measure = f.measure; last = j; }
    lo[j] = f.lo;
    hi[j] = f.hi;
  }
  return {
    sum: sum, mean: mean, lo: lo, hi: hi, measure: measure,
    count: last >= 0 ? counts[last] : 0,
  };
}

// One data row of a group: its honest sum, how many members have a value, which measure
// the sum is, and the others' lowest and highest RSS.
function rowFigures(ms, os, j) {
  var total = 0, count = 0, withPss = 0;
  for (var m = 0; m < ms.length; m++) {
    var r = ms[m].r ? ms[m].r.col[ms[m].r.off + j] : null;
    if (r == null) continue;
    var p = ms[m].p ? ms[m].p.col[ms[m].p.off + j] : null;
    if (p != null) { total += p; withPss++; } else total += r;
    count++;
  }
  var mn = Infinity, mx = -Infinity;
  for (var o = 0; o < os.length; o++) {
    var v = os[o].col[os[o].off + j];
    if (v == null) continue;
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  return {
    sum: count ? total : null, count: count,
    measure: !count ? null : withPss === count ? PSS : withPss === 0 ? RSS : MIXED,
    lo: mn === Infinity ? null : mn, hi: mx === -Infinity ? null : mx,
  };
}

// The honest value of one series (a process tree's total): its PSS where known.
export function honestCol(rss, pss, rows) {
  var out = new Array(rows), measure = null;
  for (var j = 0; j < rows; j++) {
    var r = rss ? rss.col[rss.off + j] : null;
    var p = pss ? pss.col[pss.off + j] : null;
    out[j] = p != null ? p : r;
    if (r != null || p != null) measure = p != null ? PSS : RSS;
  }
  return { col: out, measure: measure };
}

// The measure of several sums together: one name if they agree, else both.
export function combineMeasures(list) {
  var seen = {};
  list.forEach(function (m) { if (m) seen[m] = true; });
  var names = Object.keys(seen);
  if (!names.length) return null;
  if (names.length === 1) return names[0];
  return MIXED;
}
