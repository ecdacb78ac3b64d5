// The data store: one sorted time column shared by all targets, and per target an RSS
// column aligned to it, and a PSS column once the target has a PSS reading (a group's
// honest sum adds PSS: groups.js).

import { EPS, TRIM_SLACK } from "./constants.js";
import { state, store } from "./state.js";

// One sorted time column shared by all targets; per target an RSS column aligned to it
// (null where that target has no sample). Plain arrays: uPlot reads null as "no value".

export function lowerBound(arr, x) {   // first index with arr[i] >= x
  var lo = 0, hi = arr.length;
  while (lo < hi) { var mid = (lo + hi) >>> 1; if (arr[mid] < x) lo = mid + 1; else hi = mid; }
  return lo;
}

export function upperBound(arr, x) {   // first index with arr[i] > x
  var lo = 0, hi = arr.length;
  while (lo < hi) { var mid = (lo + hi) >>> 1; if (arr[mid] <= x) lo = mid + 1; else hi = mid; }
  return lo;
}

export function ensureCol(key) {
  if (store.cols.has(key)) return false;
  store.cols.set(key, new Array(store.times.length).fill(null));
  store.order.push(key);
  return true;
}

// Values (rows × columns, RSS and PSS) the store holds at most, whatever the row cap
// says: with a thousand targets the rows are what bounds the page's memory, so fewer of
// them are kept (an hour at 1 Hz of 1,000 targets' RSS and PSS still fits; never fewer
// than MIN_ROWS: 10 minutes at 1 Hz).
var CELL_BUDGET = 8000000;
var MIN_ROWS = 600;

export function rowCap() {
  var perRow = Math.max(1, store.order.length + store.pss.size);
  return Math.min(state.cap, Math.max(MIN_ROWS, Math.floor(CELL_BUDGET / perRow)));
}

// A target's PSS column, made (all nulls) the first time it has a PSS value.
function ensurePss(key) {
  var col = store.pss.get(key);
  if (!col) { col = new Array(store.times.length).fill(null); store.pss.set(key, col); }
  return col;
}

function trimStore() {
  var n = store.times.length, cap = rowCap();
  if (n <= cap + Math.min(TRIM_SLACK, cap >> 2)) return;
  var drop = n - cap;
  store.times.splice(0, drop);
  store.cols.forEach(function (col) { col.splice(0, drop); });
  store.pss.forEach(function (col) { col.splice(0, drop); });
}

// Append one row (the common case: a live tick newer than anything stored).
// values: plain object key -> rss; pss (optional): key -> pss, for the keys that have one.
// Falls back to a merge when t is not the newest time.
export function addRow(t, values, pss) {
  var times = store.times, n = times.length;
  var any = false;
  for (var key in values) {
    if (values[key] != null) any = true;
    ensureCol(key);
  }
  if (!any) return;   // a tick with nothing alive: no row (the chart stops at the last data)
  if (pss) for (var pk in pss) if (pss[pk] != null) ensurePss(pk);
  if (n === 0 || t > times[n - 1] + EPS) {
    times.push(t);
    for (var i = 0; i < store.order.length; i++) {
      var k = store.order[i];
      var v = values[k];
      store.cols.get(k).push(v == null ? null : v);
    }
    store.pss.forEach(function (col, pk) {
      var p = pss ? pss[pk] : null;
      col.push(p == null ? null : p);
    });
    trimStore();
    return;
  }
  var list = [];
  Object.keys(values).forEach(function (k) {
    list.push({ key: k, t: [t], v: [values[k]], p: pss && pss[k] != null ? [pss[k]] : null });
  });
  mergeSeries(list, false);
}

// Sorted union of two ascending arrays, times closer than EPS counted once.
export function unionSorted(a, b) {
  var out = [], i = 0, j = 0, na = a.length, nb = b.length, last = -Infinity, x;
  while (i < na || j < nb) {
    if (j >= nb || (i < na && a[i] <= b[j])) x = a[i++]; else x = b[j++];
    if (x > last + EPS) { out.push(x); last = x; }
  }
  return out;
}

// Merge whole series into the store. list: [{key, t: [...sorted], v: [...], p: [...] or null}]
// (p: the PSS values, where the series has them).
// authoritative: inside [first t, last t] of an incoming series, its points replace what
// the store held for that key (points the store had there and the series lacks are dropped).
export function mergeSeries(list, authoritative) {
  list = list.filter(function (s) { return s.t.length > 0; });
  if (!list.length) return;
  list.forEach(function (s) {
    ensureCol(s.key);
    if (Array.isArray(s.p) && s.p.some(function (x) { return x != null; })) ensurePss(s.key);
  });

  // union of incoming times (each series is sorted: merge them pairwise, linear)
  var uniq = list[0].t;
  for (var li = 1; li < list.length; li++) uniq = unionSorted(uniq, list[li].t);
  if (list.length === 1) uniq = unionSorted(uniq, []);

  // merge with the stored times; src[r] = row in the old arrays, or -1 for a new time
  var old = store.times, n = old.length, m = uniq.length;
  var times, src = null;
  if (n === 0) {
    times = uniq;
  } else {
    times = [];
    src = new Int32Array(n + m);
    var a = 0, b = 0, r = 0;
    while (a < n || b < m) {
      if (b >= m || (a < n && old[a] < uniq[b] - EPS)) { times.push(old[a]); src[r++] = a++; }
      else if (a >= n || uniq[b] < old[a] - EPS) { times.push(uniq[b++]); src[r++] = -1; }
      else { times.push(old[a]); src[r++] = a++; b++; }
    }
  }
  var rows = times.length;

  // carry the stored columns over to the new rows
  function carry(col) {
    var nc = [];
    if (!src) nc = new Array(rows).fill(null);
    else if (rows === n) nc = col.slice();
    else { for (var r2 = 0; r2 < rows; r2++) { var si = src[r2]; nc.push(si >= 0 ? col[si] : null); } }
    return nc;
  }
  var newCols = new Map(), newPss = new Map();
  store.order.forEach(function (k) { newCols.set(k, carry(store.cols.get(k))); });
  store.pss.forEach(function (col, k) { newPss.set(k, carry(col)); });

  // write the incoming values; count values dropped (rows may have become empty)
  var dropped = 0;
  list.forEach(function (s) {
    var nc = newCols.get(s.key), st = s.t, sv = s.v, sn = st.length;
    var np = newPss.get(s.key) || null, sp = Array.isArray(s.p) ? s.p : null;
    var r = lowerBound(times, st[0] - EPS), j = 0;
    var rEnd = authoritative ? upperBound(times, st[sn - 1] + EPS) : rows;
    while (r < rEnd && j < sn) {
      var tr = times[r], tj = st[j];
      if (tr < tj - EPS) {                    // a stored row this series lacks
        if (authoritative && nc[r] !== null) { nc[r] = null; dropped++; }
        if (authoritative && np) np[r] = null;
        r++;
      } else if (tr > tj + EPS) {             // a repeated incoming time: already written
        j++;
      } else {
        if (np) np[r] = sp && sp[j] != null ? sp[j] : null;
        var v = sv[j++];
        if (v == null) { nc[r] = null; dropped++; } else nc[r] = v;
        r++;
      }
    }
    for (; authoritative && r < rEnd; r++) {
      if (np) np[r] = null;
      if (nc[r] !== null) { nc[r] = null; dropped++; }
    }
  });

  var cols = store.order.map(function (k) { return newCols.get(k); });
  var pcols = Array.from(newPss.values());
  if (dropped > 0) {
    // drop rows that no target has a value for
    var w = 0, c;
    for (var r3 = 0; r3 < rows; r3++) {
      var any = false;
      for (c = 0; c < cols.length; c++) { if (cols[c][r3] !== null) { any = true; break; } }
      if (!any) continue;
      if (w !== r3) {
        times[w] = times[r3];
        for (c = 0; c < cols.length; c++) cols[c][w] = cols[c][r3];
        for (c = 0; c < pcols.length; c++) pcols[c][w] = pcols[c][r3];
      }
      w++;
    }
    if (w !== rows) {
      times.length = w;
      cols.forEach(function (col) { col.length = w; });
      pcols.forEach(function (col) { col.length = w; });
    }
  }

  store.times = times;
  store.cols = newCols;
  store.pss = newPss;
  store.version++;
  store.merges++;
  trimStore();
}

export function lastTimeOf(key) {
  var col = store.cols.get(key);
  if (!col) return null;
  for (var i = col.length - 1; i >= 0; i--) if (col[i] !== null) return store.times[i];
  return null;
}
