// Where the memory lives (docs/maps.md): the readings of each target's memory map, as the
// "maps" messages and the backfill's `maps` bring them (docs/protocol.md), checked and kept
// per target for the "where" panel (where/view.js).

import { num } from "../util.js";

export var CATEGORIES = ["heap", "anon", "file", "stack", "shmem", "other"];
var FIGURES = ["rss", "pss", "uss", "swap"];
var KEEP = 720;          // readings per target: two hours at the default pace
var TOP = 64;            // mappings per reading accepted (the server sends at most 32)

export var where = {
  byKey: new Map(),      // key -> readings, oldest first: {t, cats: {c: {rss, pss, uss, swap}}, stacks, mappings, top}
  version: 0,            // bumped on every change: the view redraws when it moves
};

var listeners = [];
export function onWhereChange(fn) { listeners.push(fn); }
function changed() { where.version++; listeners.forEach(function (fn) { fn(); }); }

function text(x) { return typeof x === "string" ? x : ""; }

// One message as the page keeps it; null when it is not a reading.
function reading(msg) {
  var t = num(msg.t);
  if (typeof msg.key !== "string" || t == null || !msg.categories || typeof msg.categories !== "object") return null;
  var cats = {};
  CATEGORIES.forEach(function (c) {
    var one = msg.categories[c] && typeof msg.categories[c] === "object" ? msg.categories[c] : {};
    cats[c] = {};
    FIGURES.forEach(function (f) { cats[c][f] = Math.max(0, num(one[f]) || 0); });
  });
  var top = Array.isArray(msg.top) ? msg.top.slice(0, TOP) : [];
  return {
    t: t,
    cats: cats,
    stacks: num(msg.thread_stacks) || 0,
    mappings: num(msg.mappings) || 0,
    top: top.filter(function (m) { return m && typeof m === "object"; }).map(function (m) {
      return {
        start: text(m.start), perms: text(m.perms), label: text(m.label), category: text(m.category),
        role: text(m.role), size: num(m.size) || 0, rss: num(m.rss) || 0,
      };
    }),
    runtimes: Array.isArray(msg.runtimes) ? msg.runtimes.filter(function (r) { return r && typeof r === "object"; }) : [],
  };
}

function keep(key, r) {
  var list = where.byKey.get(key);
  if (!list) { list = []; where.byKey.set(key, list); }
  var last = list.length ? list[list.length - 1].t : -Infinity;
  if (r.t > last) list.push(r);
  else if (!list.some(function (x) { return x.t === r.t; })) {
    list.push(r);
    list.sort(function (a, b) { return a.t - b.t; });
  } else return false;   // after a reconnect, the same readings again: kept once
  if (list.length > KEEP) list.splice(0, list.length - KEEP);
  return true;
}

export function onMaps(msg) {
  var r = reading(msg);
  if (r && keep(msg.key, r)) changed();
}

export function onMapsBackfill(list) {
  if (!Array.isArray(list)) return;
  var any = false;
  list.forEach(function (msg) {
    var r = msg && typeof msg === "object" ? reading(msg) : null;
    if (r && keep(msg.key, r)) any = true;
  });
  if (any) changed();
}

// The resident bytes of each category of a reading, and their sum.
export function rssOf(r) {
  var out = {}, total = 0;
  CATEGORIES.forEach(function (c) { out[c] = r.cats[c].rss; total += out[c]; });
  out.total = total;
  return out;
}

// The reading a growth is counted from: the newest at or before `since` (the first when
// none is that old).
export function baseline(list, since) {
  var found = list[0];
  for (var i = 0; i < list.length; i++) if (list[i].t <= since) found = list[i];
  return found;
}

// The mappings that grew most from `then` to `now`, by RSS, largest growth first; a
// mapping is the same one when it starts at the same address with the same label. One
// not among the largest `then` counts from nothing.
export function grewMost(then, now, n) {
  var before = new Map();
  then.top.forEach(function (m) { before.set(m.start + "|" + m.label, m.rss); });
  var out = now.top.map(function (m) {
    var was = before.get(m.start + "|" + m.label);
    return { m: m, growth: m.rss - (was == null ? 0 : was), fresh: was == null };
  }).filter(function (g) { return g.growth > 0; });
  out.sort(function (a, b) { return b.growth - a.growth; });
  return out.slice(0, n);
}

var NAMES = {
  heap: "the brk heap", anon: "anonymous memory", file: "file-backed memory", stack: "thread stacks",
  shmem: "shared memory", other: "kernel and device mappings",
};
var WHAT = {
  heap: "malloc's main arena", anon: "malloc arenas or a runtime's heap",
  file: "code and mapped files", stack: "one per thread", shmem: "/dev/shm, memfd or System V",
  other: "the vDSO and device memory",
};

// The sentence memlens maps prints (analysis/maptext.py), for the newest reading.
export function sentence(r) {
  var rss = rssOf(r);
  if (!(rss.total > 0)) return "nothing is resident";
  var best = CATEGORIES[0];
  CATEGORIES.forEach(function (c) { if (rss[c] > rss[best]) best = c; });
  var share = rss[best] / rss.total;
  return (share > 0.5 ? "most of it" : "the largest part") + " (" + Math.round(share * 100) + "%) is " +
    NAMES[best] + ": " + WHAT[best];
}
