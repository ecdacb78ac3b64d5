/* memlens dashboard: live RSS chart fed by the /ws stream (see docs/protocol.md).

   Hooks for tests (kept stable):
     #conn-state[data-state]          connecting | connected | reconnecting ("connected" once the
                                      backfill is drawn; [data-mode] is "live" or "recording")
     .target-card[data-key][data-state][data-points][data-bucketed]
                                      data-points: points of that target in the visible range;
                                      data-bucketed: its M4 bucket points in the latest backfill
     [data-stat=current|min|max|avg][data-bytes]   stats over the visible range, in bytes
     #exit-banner, button[data-window]
     body[data-ticks]                 ticks received
     body[data-bucketed-points]       sum of backfill.bucketed of the latest backfill
     body[data-detail-requests]       /api/range answers applied and drawn (zoom detail)
     body[data-alerts]                distinct alerts received (leak and threshold messages)
     #alerts .alert-banner[data-alert-type][data-alert-key][data-state][data-severity][data-metric]
                                      one per alert in force (a leak: per target; a threshold: per
                                      target and metric; data-alert-key "system" for the machine);
                                      data-state raised | cleared (a quiet "withdrawn" note) | above;
                                      hidden once dismissed (.alert-dismiss)
     .target-card[data-leak] [data-role=leak][data-severity], [data-role=threshold][data-metric]
                                      badges of the target's alerts in force
     #chart[data-markers][data-markers-visible]
                                      alert markers of the charted targets: held, and drawn in view
     #python-panel[data-key][data-tracing][data-heap-points]
                                      the Python panel, shown when a target runs the agent; data-key:
                                      the process shown (#python-target picks one when several);
                                      data-heap-points: traced-heap points in the visible range
     [data-role=heap-gap][data-bytes] RSS - traced heap of the newest sample (no data-bytes: unknown)
     [data-role=trace-toggle][data-tracing], [data-role=frames], [data-role=trace-error], [data-role=trace-note]
     [data-role=gc-pauses][data-count] gc pauses seen since the page opened (no data-count: no answer yet)
     [data-role=py-blocks][data-trend], [data-role=gc-collections], [data-role=gc-uncollectable]
     #python-top tbody tr[data-file][data-line]   the latest top allocation sites, by growth
     [data-role=top-empty]            shown while there are none
     #system-strip[data-points]       the machine's figures (hidden while the server sends none);
                                      data-points: readings in the visible range
     #system-strip [data-metric=cpu_percent|mem_percent|swap_used|disk_read_bps|disk_write_bps|net_rx_bps|net_tx_bps|gpu]
                                      a tile: [data-value] the raw figure shown (percent, bytes,
                                      bytes/s; GPU: utilisation percent, with [data-gpu] its index),
                                      [data-role=value] its text, [data-points] sparkline points;
                                      mem_percent also [data-used][data-total] in bytes
*/
(function () {
  "use strict";

  // ------------------------------------------------------------------ constants

  var PROTOCOL = 1;
  var DEFAULT_FIELDS = ["rss", "vms", "shared", "swap", "threads", "fds", "cpu", "uss", "pss",
    "py_heap", "py_heap_peak", "py_blocks", "gc_collections", "gc_uncollectable"];
  var POINT_CAP = 200000;          // stored points per target, at least
  var POINT_CAP_MAX = 1000000;     // never more, whatever history_capacity says
  var TRIM_SLACK = 2000;           // trim in batches, not on every tick
  var EPS = 1e-3;                  // two sample times closer than this are the same time
  var BACKOFF_MIN = 500, BACKOFF_MAX = 10000;
  var DETAIL_DEBOUNCE = 150;       // ms between a change of the visible range and /api/range
  var DETAIL_PAD = 0.02;           // detail is fetched a little wider than the view, each side
  var WINDOWS = { "60": 60, "600": 600, "3600": 3600, "all": Infinity };
  var UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];
  var DASH = "\u2013";             // shown for unknown values
  var FONT_STACK = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif';

  var PALETTE_LIGHT = ["#2f6fde", "#e0662d", "#1a9a73", "#b83b7d", "#7a55d6", "#1b92ad", "#c48a08", "#5c8f1f", "#d0453e", "#58657a"];
  var PALETTE_DARK = ["#6ea0ff", "#ff9a62", "#43c99b", "#e77ab4", "#a98bff", "#4cc3df", "#e8b73c", "#98c956", "#ff7a72", "#a3afc2"];

  // ------------------------------------------------------------------ url / token

  var params = new URLSearchParams(location.search);
  var token = params.get("token");
  var basePath = location.pathname.replace(/[^/]*$/, "") || "/";

  function withToken(path) {
    if (!token) return path;
    return path + (path.indexOf("?") >= 0 ? "&" : "?") + "token=" + encodeURIComponent(token);
  }

  function wsUrl() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    return proto + "//" + location.host + withToken(basePath + "ws");
  }

  function apiUrl(path) {
    return withToken(basePath + path);
  }

  // ------------------------------------------------------------------ formatting

  function fmtBytes(v) {
    if (v == null || !isFinite(v)) return DASH;
    var neg = v < 0, a = Math.abs(v), i = 0;
    while (a >= 1024 && i < UNITS.length - 1) { a /= 1024; i++; }
    if (i === 0) return (neg ? "-" : "") + Math.round(a) + " B";
    var s = a.toFixed(1);
    if (s === "1024.0" && i < UNITS.length - 1) { s = "1.0"; i++; }
    return (neg ? "-" : "") + s + " " + UNITS[i];
  }

  function pad2(n) { return n < 10 ? "0" + n : "" + n; }

  function fmtClock(t) {
    var d = new Date(t * 1000);
    return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
  }

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function fmtDay(d) { return MONTHS[d.getMonth()] + " " + d.getDate(); }

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  // "14:02:11", or "Nov 20 14:02:11" when not today
  function fmtWhen(t) {
    var d = new Date(t * 1000);
    return sameDay(d, new Date()) ? fmtClock(t) : fmtDay(d) + " " + fmtClock(t);
  }

  // "14:02:11 – 14:12:11"; dates on both ends when the range crosses a day
  function fmtSpan(lo, hi) {
    if (sameDay(new Date(lo * 1000), new Date(hi * 1000))) return fmtWhen(lo) + " \u2013 " + fmtClock(hi);
    return fmtDateTime(lo) + " \u2013 " + fmtDateTime(hi);
  }

  function fmtDuration(s) {
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + pad2(s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + pad2(Math.floor(s % 3600 / 60)) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
  }

  function fmtInterval(s) {
    if (s >= 1) return (Math.round(s * 10) / 10) + " s";
    return Math.round(s * 1000) + " ms";
  }

  function fmtCount(v) { return v == null || !isFinite(v) ? DASH : String(Math.round(v)); }

  // 12345 -> "12,345"
  function fmtThousands(n) { return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

  // "Nov 20 14:02:11", the year added when it is not this one
  function fmtDateTime(t) {
    var d = new Date(t * 1000);
    var year = d.getFullYear() !== new Date().getFullYear() ? " " + d.getFullYear() : "";
    return fmtDay(d) + year + " " + fmtClock(t);
  }

  function fmtCpu(v) {
    if (v == null || !isFinite(v)) return DASH;
    return (v >= 100 ? Math.round(v) : v.toFixed(1)) + " %";
  }

  // y axis: every label in the unit of the largest tick, decimals from the step
  function fmtBytesAxis(u, splits, axisIdx, space, incr) {
    var top = 0;
    for (var i = 0; i < splits.length; i++) top = Math.max(top, Math.abs(splits[i]));
    var p = 0;
    while (top >= 1024 && p < UNITS.length - 1) { top /= 1024; p++; }
    var div = Math.pow(1024, p);
    var step = incr / div;
    var dec = step >= 1 || p === 0 ? 0 : Math.min(3, Math.ceil(-Math.log10(step) - 1e-9));
    return splits.map(function (v) {
      if (v === 0) return "0";
      return (v / div).toFixed(dec) + " " + UNITS[p];
    });
  }

  // x axis: local time, 24-hour clock; the date on the first tick and where the day changes
  function fmtTimeAxis(u, splits, axisIdx, space, incr) {
    var prev = null;
    return splits.map(function (t) {
      var d = new Date(t * 1000);
      var label;
      if (incr >= 86400) label = fmtDay(d);
      else if (incr >= 60 && d.getSeconds() === 0) label = pad2(d.getHours()) + ":" + pad2(d.getMinutes());
      else label = fmtClock(t);
      if (incr < 86400 && (prev === null || !sameDay(prev, d))) label += "\n" + fmtDay(d);
      prev = d;
      return label;
    });
  }

  var BYTE_INCRS = (function () {
    var out = [], mults = [1, 2, 5, 10, 20, 50, 100, 200, 500];
    for (var p = 0; p < UNITS.length; p++) {
      for (var i = 0; i < mults.length; i++) out.push(mults[i] * Math.pow(1024, p));
    }
    return out;
  })();

  // ------------------------------------------------------------------ theme

  var darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function readTheme() {
    var cs = getComputedStyle(document.documentElement);
    function v(name, dflt) { var s = cs.getPropertyValue(name).trim(); return s || dflt; }
    var dark = !!(darkQuery && darkQuery.matches);
    return {
      dark: dark,
      axis: v("--chart-axis", "#5d6b7c"),
      grid: v("--chart-grid", "rgba(120,130,150,0.16)"),
      palette: dark ? PALETTE_DARK : PALETTE_LIGHT,
      severity: {
        low: v("--sev-low", "#3f6fb8"),
        medium: v("--sev-medium", "#a86f00"),
        high: v("--sev-high", "#c9541c"),
        critical: v("--sev-critical", "#c62f38"),
      },
      limit: v("--alert-limit", "#b7791f"),
      quiet: v("--stop", "#8a94a3"),
      pyHeap: v("--py-heap", dark ? "#e8b73c" : "#b06a00"),
      pyGc: v("--py-gc", dark ? "#a98bff" : "#7a55d6"),
      pyBlocks: v("--py-blocks", dark ? "#43c99b" : "#1a9a73"),
    };
  }

  var theme = readTheme();

  function hexToRgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  // ------------------------------------------------------------------ data store
  // One sorted time column shared by all targets; per target an RSS column aligned to it
  // (null where that target has no sample). Plain arrays: uPlot reads null as "no value".

  var store = { times: [], cols: new Map(), order: [], version: 0 };   // version: bumped by merges

  function lowerBound(arr, x) {   // first index with arr[i] >= x
    var lo = 0, hi = arr.length;
    while (lo < hi) { var mid = (lo + hi) >>> 1; if (arr[mid] < x) lo = mid + 1; else hi = mid; }
    return lo;
  }

  function upperBound(arr, x) {   // first index with arr[i] > x
    var lo = 0, hi = arr.length;
    while (lo < hi) { var mid = (lo + hi) >>> 1; if (arr[mid] <= x) lo = mid + 1; else hi = mid; }
    return lo;
  }

  function ensureCol(key) {
    if (store.cols.has(key)) return false;
    store.cols.set(key, new Array(store.times.length).fill(null));
    store.order.push(key);
    return true;
  }

  function trimStore() {
    var n = store.times.length;
    if (n <= state.cap + TRIM_SLACK) return;
    var drop = n - state.cap;
    store.times.splice(0, drop);
    store.cols.forEach(function (col) { col.splice(0, drop); });
  }

  // Append one row (the common case: a live tick newer than anything stored).
  // values: plain object key -> rss. Falls back to a merge when t is not the newest time.
  function addRow(t, values) {
    var times = store.times, n = times.length;
    var any = false;
    for (var key in values) {
      if (values[key] != null) any = true;
      ensureCol(key);
    }
    if (!any) return;   // a tick with nothing alive: no row (the chart stops at the last data)
    if (n === 0 || t > times[n - 1] + EPS) {
      times.push(t);
      for (var i = 0; i < store.order.length; i++) {
        var k = store.order[i];
        var v = values[k];
        store.cols.get(k).push(v == null ? null : v);
      }
      trimStore();
      return;
    }
    var list = [];
    Object.keys(values).forEach(function (k) { list.push({ key: k, t: [t], v: [values[k]] }); });
    mergeSeries(list, false);
  }

  // Sorted union of two ascending arrays, times closer than EPS counted once.
  function unionSorted(a, b) {
    var out = [], i = 0, j = 0, na = a.length, nb = b.length, last = -Infinity, x;
    while (i < na || j < nb) {
      if (j >= nb || (i < na && a[i] <= b[j])) x = a[i++]; else x = b[j++];
      if (x > last + EPS) { out.push(x); last = x; }
    }
    return out;
  }

  // Merge whole series into the store. list: [{key, t: [...sorted], v: [...]}].
  // authoritative: inside [first t, last t] of an incoming series, its points replace what
  // the store held for that key (points the store had there and the series lacks are dropped).
  function mergeSeries(list, authoritative) {
    list = list.filter(function (s) { return s.t.length > 0; });
    if (!list.length) return;
    list.forEach(function (s) { ensureCol(s.key); });

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
    var newCols = new Map();
    store.order.forEach(function (k) {
      var col = store.cols.get(k), nc = [];
      if (!src) nc = new Array(rows).fill(null);
      else if (rows === n) nc = col.slice();
      else { for (var r2 = 0; r2 < rows; r2++) { var si = src[r2]; nc.push(si >= 0 ? col[si] : null); } }
      newCols.set(k, nc);
    });

    // write the incoming values; count values dropped (rows may have become empty)
    var dropped = 0;
    list.forEach(function (s) {
      var nc = newCols.get(s.key), st = s.t, sv = s.v, sn = st.length;
      var r = lowerBound(times, st[0] - EPS), j = 0;
      var rEnd = authoritative ? upperBound(times, st[sn - 1] + EPS) : rows;
      while (r < rEnd && j < sn) {
        var tr = times[r], tj = st[j];
        if (tr < tj - EPS) {                    // a stored row this series lacks
          if (authoritative && nc[r] !== null) { nc[r] = null; dropped++; }
          r++;
        } else if (tr > tj + EPS) {             // a repeated incoming time: already written
          j++;
        } else {
          var v = sv[j++];
          if (v == null) { nc[r] = null; dropped++; } else nc[r] = v;
          r++;
        }
      }
      for (; authoritative && r < rEnd; r++) if (nc[r] !== null) { nc[r] = null; dropped++; }
    });

    var cols = store.order.map(function (k) { return newCols.get(k); });
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
        }
        w++;
      }
      if (w !== rows) {
        times.length = w;
        cols.forEach(function (col) { col.length = w; });
      }
    }

    store.times = times;
    store.cols = newCols;
    store.version++;
    trimStore();
  }

  function lastTimeOf(key) {
    var col = store.cols.get(key);
    if (!col) return null;
    for (var i = col.length - 1; i >= 0; i--) if (col[i] !== null) return store.times[i];
    return null;
  }

  // ------------------------------------------------------------------ app state

  var state = {
    targets: new Map(),          // key -> target record
    fields: DEFAULT_FIELDS.slice(),
    interval: 1,
    capacity: 3600,
    cap: POINT_CAP,
    lastSeq: null,
    ticks: 0,
    windowKey: "600",
    zoom: null,                  // [lo, hi] seconds while the user has zoomed
    version: null,
    protocol: null,
    clockSkew: 0,                // server_time - local time
    connected: false,
    mode: "live",                // hello.mode: "live" or "recording"
    recording: null,             // hello.recording: {id, name, started, ended} or null
    modeSeen: false,             // the window default was set for the mode once
    coarse: new Map(),           // key -> {lo, hi, count, gap}: the bucketed (oldest) points of the backfill
    backfills: 0,
  };

  function fieldIndex(name) { return state.fields.indexOf(name); }

  function labelOf(tg) {
    if (tg.kind === "sum") return "total (pid " + tg.pid + " + children)";
    return (tg.name || "?") + " (pid " + tg.pid + ")";
  }

  function guessTarget(key) {
    var isSum = key.indexOf("sum-") === 0;
    var pid = parseInt(isSum ? key.slice(4) : key, 10);
    return {
      key: key, kind: isSum ? "sum" : "process", pid: isFinite(pid) ? pid : "?", name: isSum ? "total" : "pid " + pid,
      cmdline: "", parent: null, members: [], state: "running", exit_time: null, exit_code: null, exit_reason: null,
      python: null,
    };
  }

  // Create or update a target from a Target object; returns the record.
  function upsertTarget(t) {
    if (!t || typeof t.key !== "string") return null;
    var rec = state.targets.get(t.key);
    var isNew = !rec;
    if (isNew) {
      rec = { key: t.key, latest: { t: -Infinity, rss: null, threads: null, fds: null, cpu: null }, card: null, guessed: false };
      state.targets.set(t.key, rec);
    }
    // an update (a `target` message for a known key) replaces what it carries
    ["kind", "pid", "start_time", "name", "cmdline", "parent", "members", "state", "exit_time", "exit_code", "exit_reason", "python"]
      .forEach(function (f) { if (f in t) rec[f] = t[f]; });
    if (rec.python != null && typeof rec.python !== "object") rec.python = null;
    if (rec.python) rec.python = Object.assign({}, rec.python);
    if (rec.state !== "exited") rec.state = "running";
    rec.guessed = !!t._guessed;
    if (ensureCol(rec.key) || !chartHasSeries(rec.key)) addChartSeries(rec.key);
    if (!rec.card) createCard(rec);
    refreshCardStatic(rec);
    return rec;
  }

  function targetFor(key) {
    var rec = state.targets.get(key);
    if (rec) return rec;
    var g = guessTarget(key);
    g._guessed = true;
    refreshTargetsSoon();
    return upsertTarget(g);
  }

  function noteLatest(rec, t, vals) {
    if (t < rec.latest.t) return;
    rec.latest.t = t;
    rec.latest.rss = vals.rss;
    rec.latest.threads = vals.threads;
    rec.latest.fds = vals.fds;
    rec.latest.cpu = vals.cpu;
  }

  function pick(arr, i) { return arr && i >= 0 && i < arr.length ? arr[i] : null; }

  // ------------------------------------------------------------------ chart

  var chartEl = document.getElementById("chart");
  var chart = null;
  var chartKeys = [];              // series order in the chart (index + 1)
  var viewRange = null;            // [lo, hi] of the x scale for the next draw

  function chartSize() {
    var w = Math.max(200, Math.floor(chartEl.clientWidth || 600));
    var h = Math.round(Math.max(220, Math.min(440, window.innerHeight * 0.46)));
    if (w < 560) h = Math.min(h, 300);
    return { width: w, height: h };
  }

  function colorOf(key) {
    var i = store.order.indexOf(key);
    return theme.palette[(i < 0 ? 0 : i) % theme.palette.length];
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
      var fill = hexToRgba(color, theme.dark ? 0.12 : 0.08);
      // shade the area only while one process is charted: stacked shades turn to mud
      opts.fill = function () { return processSeriesCount() <= 1 ? fill : null; };
    }
    return opts;
  }

  function processSeriesCount() {
    var n = 0;
    for (var i = 0; i < chartKeys.length; i++) {
      var rec = state.targets.get(chartKeys[i]);
      if (!rec || rec.kind !== "sum") n++;
    }
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
    var key = chartKeys[sidx - 1];
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

  function gapLimitAt(t, limit, coarse, part) {
    if (part && t >= part.lo - EPS && t <= part.hi + EPS) return part.bucketed ? Math.max(limit, part.gap) : limit;
    if (coarse && t >= coarse.lo - EPS && t <= coarse.hi + EPS) return Math.max(limit, coarse.gap);
    return limit;
  }

  function xRange(u, dmin, dmax) {
    if (viewRange) return [viewRange[0], viewRange[1]];
    if (dmin == null) { var now = Date.now() / 1000; return [now - 60, now]; }
    return dmin === dmax ? [dmin - 1, dmax + 1] : [dmin, dmax];
  }

  function yRange(u, dmin, dmax) {
    if (dmin == null || dmax == null || !isFinite(dmin) || !isFinite(dmax)) return [0, 64 * 1048576];
    var span = Math.max(dmax - dmin, Math.abs(dmax) * 0.05, 1048576);
    var lo = dmin - span * 0.12, hi = dmax + span * 0.12;
    if (lo < 0 || dmin - lo > dmin * 0.9) lo = 0;
    return [lo, hi];
  }

  function makeChart() {
    var size = chartSize();
    var axisCommon = {
      stroke: theme.axis,
      font: "12px " + FONT_STACK,
      grid: { stroke: theme.grid, width: 1 },
      ticks: { stroke: theme.grid, width: 1, size: 5 },
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
        // alert markers: the leak windows under the lines, the alert times over them
        drawAxes: [drawMarkerShades],
        draw: [drawMarkerLines],
      },
    };
    chart = new uPlot(opts, [[]], chartEl);
    chartKeys = [];
    store.order.forEach(function (k) { addChartSeries(k); });
    chart.over.addEventListener("dblclick", function () { setZoom(null); });
    // pan: a sideways wheel or shift+wheel over the chart, or the arrow keys
    chart.over.addEventListener("wheel", function (e) {
      var d = Math.abs(e.deltaX) > Math.abs(e.deltaY) ? e.deltaX : (e.shiftKey ? e.deltaY : 0);
      if (!d) return;
      e.preventDefault();
      pan(d > 0 ? 0.1 : -0.1);
    }, { passive: false });
  }

  // Shift the visible range by `fraction` of its width, within the data held.
  function pan(fraction) {
    var times = store.times, n = times.length;
    if (!n) return;
    var range = currentRange(), span = range[1] - range[0];
    var first = times[0], last = times[n - 1];
    if (span >= last - first) return;
    var lo = Math.min(Math.max(range[0] + span * fraction, first), last - span);
    setZoom([lo, lo + span]);
  }

  document.addEventListener("keydown", function (e) {
    if (e.target && /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
    if (e.key === "ArrowLeft") { pan(-0.25); e.preventDefault(); }
    else if (e.key === "ArrowRight") { pan(0.25); e.preventDefault(); }
  });

  function chartHasSeries(key) { return chartKeys.indexOf(key) >= 0; }

  function addChartSeries(key) {
    if (!chart || chartHasSeries(key)) return;
    chart.addSeries(seriesOpts(key), chartKeys.length + 1);
    chartKeys.push(key);
    needRender();
  }

  function relabelSeries(key) {
    if (!chart) return;
    var i = chartKeys.indexOf(key);
    var rec = state.targets.get(key);
    if (i < 0 || !rec) return;
    var label = labelOf(rec);
    var s = chart.series[i + 1];
    if (s.label === label) return;
    s.label = label;
    var th = chart.root.querySelectorAll(".u-legend .u-series")[i + 1];
    var lab = th && th.querySelector(".u-label");
    if (lab) lab.textContent = label;
  }

  function legendToLatest(u) {
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

  function onSelect(u) {
    var sel = u.select;
    if (sel.width < 4) return;
    var lo = u.posToVal(sel.left, "x"), hi = u.posToVal(sel.left + sel.width, "x");
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    if (hi - lo > 0.5) setZoom([lo, hi]);
  }

  function setZoom(z) {
    state.zoom = z;
    document.getElementById("reset-zoom").hidden = !z;
    needRender();
  }

  var resizePending = false;
  function onResize() {
    if (resizePending) return;
    resizePending = true;
    requestAnimationFrame(function () {
      resizePending = false;
      if (!chart) return;
      var s = chartSize();
      if (s.width !== chart.width || s.height !== chart.height) chart.setSize(s);
      pyResize();
    });
  }

  // ------------------------------------------------------------------ bucketed history, zoom detail
  // The backfill may begin with M4 buckets (first/min/max/last RSS per time bucket, the
  // older history from the store): state.coarse spans them per target. When the visible
  // range shows such a part closer than its buckets can, /api/range is asked for that range
  // ("detail", raw samples when few) and drawn in place of the stored points within it;
  // the store keeps the base data, so leaving the zoom shows the overview again.

  var detail = {
    parts: new Map(),            // key -> {lo, hi, buckets, t, v, n, bucketed, gap}: answers in use
    partsVersion: 0,
    section: null,               // the parts merged with the stored rows of their span (cached)
    gen: 0,                      // bumped when the view changes: older answers are stale
    inflight: null,              // {gen, left, controllers}
    timer: 0,                    // debounce
    sig: null,                   // the view the requests are for
    failedSig: null,             // a view whose requests failed: not retried in a loop
    answered: 0,                 // answers applied
    shown: 0,                    // answers drawn (body[data-detail-requests])
  };

  function plotWidth() {
    var w = chart && chart.over ? chart.over.clientWidth : 0;
    return Math.max(50, Math.round(w || chartSize().width - 90));
  }

  function viewSig() {
    return state.backfills + "|" + (state.zoom ? "z" + state.zoom[0] + "," + state.zoom[1] : "w" + state.windowKey);
  }

  // What the view [lo, hi] needs: need = ranges to fetch (per target), drop = parts no
  // longer useful (out of view, or the view shows the whole overview again).
  function detailPlan(lo, hi) {
    var width = plotWidth(), pad = Math.max((hi - lo) * DETAIL_PAD, state.interval * 2);
    var need = [], drop = [];
    state.coarse.forEach(function (c, key) {
      var p = detail.parts.get(key);
      var a = Math.max(lo, c.lo), b = Math.min(hi, c.hi);
      if (a > b || (lo <= c.lo + EPS && hi >= c.hi - EPS) || !state.targets.has(key)) {
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

  function clearDetail() {
    abortDetail();
    if (detail.parts.size) { detail.parts.clear(); detail.partsVersion++; }
    detail.section = null;
  }

  // Called by render with the range it draws.
  function considerDetail(lo, hi) {
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
    if (!viewRange) return;
    var plan = detailPlan(viewRange[0], viewRange[1]);
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

  // The parts merged into one aligned block over their span, with the stored points of
  // targets (or stretches) no part covers; rebuilt only when the parts or the store change.
  function currentSection() {
    if (!detail.parts.size) { detail.section = null; return null; }
    var sec = detail.section;
    if (sec && sec.version === store.version && sec.partsVersion === detail.partsVersion) return sec;
    var lo = Infinity, hi = -Infinity;
    detail.parts.forEach(function (p) { if (p.lo < lo) lo = p.lo; if (p.hi > hi) hi = p.hi; });
    var times = store.times;
    var a = lowerBound(times, lo - EPS), b = upperBound(times, hi + EPS);
    var lists = [];
    store.order.forEach(function (k) {
      var col = store.cols.get(k), p = detail.parts.get(k), t = [], v = [], i = a, j;
      if (p) {
        for (; i < b && times[i] < p.lo - EPS; i++) if (col[i] !== null) { t.push(times[i]); v.push(col[i]); }
        for (j = 0; j < p.n; j++) { t.push(p.t[j]); v.push(p.v[j]); }
        while (i < b && times[i] <= p.hi + EPS) i++;
      }
      for (; i < b; i++) if (col[i] !== null) { t.push(times[i]); v.push(col[i]); }
      lists.push({ key: k, t: t, v: v });
    });
    var ut = [];
    lists.forEach(function (l) { ut = unionSorted(ut, l.t); });
    var cols = new Map();
    lists.forEach(function (l) {
      var out = new Array(ut.length).fill(null), r = 0;
      for (var j2 = 0; j2 < l.t.length; j2++) {
        while (r < ut.length && ut[r] < l.t[j2] - EPS) r++;
        if (r < ut.length && l.v[j2] != null) out[r] = l.v[j2];
      }
      cols.set(l.key, out);
    });
    sec = { lo: lo, hi: hi, times: ut, cols: cols, version: store.version, partsVersion: detail.partsVersion };
    detail.section = sec;
    return sec;
  }

  // Whether what the range shows of some target is still buckets (for the subtitle).
  function viewIsDownsampled(lo, hi) {
    var out = false;
    state.coarse.forEach(function (c, key) {
      if (out || c.lo > hi || c.hi < lo) return;
      var p = detail.parts.get(key);
      if (p && !p.bucketed && p.lo <= Math.max(lo, c.lo) + EPS && p.hi >= Math.min(hi, c.hi) - EPS) return;
      out = true;
    });
    return out;
  }

  function detailLoading() { return !!(detail.inflight || detail.timer); }

  // ------------------------------------------------------------------ rendering (once per frame)

  var rafId = 0;

  function needRender() {
    if (!rafId) rafId = requestAnimationFrame(render);
  }

  function renderNow() {
    if (rafId) { cancelAnimationFrame(rafId); rafId = 0; }
    render();
  }

  function currentRange() {
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

  function render() {
    rafId = 0;
    if (!chart) makeChart();
    var range = currentRange();
    var lo = range[0], hi = range[1];
    if (hi - lo < 1) { lo = hi - Math.max(state.interval * 10, 10); }
    viewRange = [lo, hi];

    considerDetail(lo, hi);
    var sec = currentSection();
    var view = sec && sec.hi >= range[0] - EPS && sec.lo <= range[1] + EPS ? composedView(sec, range) : baseView(range);
    chart.setData(view.data);

    document.getElementById("chart-empty").hidden = store.times.length > 0;
    updateMarkerCount();
    updateCards(view.colOf, view.i0, view.i1);
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
      chartKeys.forEach(function (k) { data.push(store.cols.get(k)); });
    } else {
      data = [times.slice(d0, d1)];
      chartKeys.forEach(function (k) { data.push(store.cols.get(k).slice(d0, d1)); });
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
    var outT = [], outCols = chartKeys.map(function () { return []; });
    var off = 0;
    parts.forEach(function (p) {
      var len = p.b - p.a, from = Math.max(d0 - off, 0), to = Math.min(d1 - off, len);
      off += len;
      if (from >= to) return;
      var s0 = p.a + from, s1 = p.a + to;
      Array.prototype.push.apply(outT, p.t.slice(s0, s1));
      chartKeys.forEach(function (k, ci) {
        var col = p.col(k), out = outCols[ci];
        if (col) { for (var i = s0; i < s1; i++) out.push(col[i]); }
        else { for (var i2 = s0; i2 < s1; i2++) out.push(null); }
      });
    });
    var byKey = new Map();
    chartKeys.forEach(function (k, ci) { byKey.set(k, outCols[ci]); });
    return {
      data: [outT].concat(outCols), i0: i0 - d0, i1: i1 - d0,
      colOf: function (k) { return byKey.get(k); },
    };
  }

  // ------------------------------------------------------------------ cards

  var cardsEl = document.getElementById("cards");
  var cardTpl = document.getElementById("card-tpl");

  function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }

  function setAttr(el, name, value) {
    if (!el) return;
    if (value == null) { if (el.hasAttribute(name)) el.removeAttribute(name); }
    else if (el.getAttribute(name) !== value) el.setAttribute(name, value);
  }

  function createCard(rec) {
    var node = cardTpl.content.firstElementChild.cloneNode(true);
    node.setAttribute("data-key", rec.key);
    var q = function (sel) { return node.querySelector(sel); };
    rec.card = {
      root: node,
      swatch: q(".swatch"), name: q(".card-name"), cmd: q(".card-cmd"), badge: q('[data-role="state"]'),
      note: q('[data-role="note"]'),
      currentLabel: q(".stat-main .stat-label"),
      current: q('[data-stat="current"]'), min: q('[data-stat="min"]'), max: q('[data-stat="max"]'),
      avg: q('[data-stat="avg"]'), threads: q('[data-stat="threads"]'), fds: q('[data-stat="fds"]'),
      cpu: q('[data-stat="cpu"]'),
      flags: q('[data-role="flags"]'), leak: q('[data-role="leak"]'), threshold: q('[data-role="threshold"]'),
    };
    cardsEl.appendChild(node);
  }

  function exitNote(rec) {
    var verb = rec.exit_reason === "pid-reused" ? "ended" : "exited";
    var s = verb;
    if (rec.exit_time != null) s += " at " + fmtWhen(rec.exit_time);
    if (rec.exit_code != null) s += ", code " + rec.exit_code;
    if (rec.exit_reason === "pid-reused") s += " (PID reused by another process)";
    return s;
  }

  function refreshCardStatic(rec) {
    var c = rec.card;
    if (!c) return;
    var color = colorOf(rec.key);
    c.swatch.style.background = color;
    c.root.style.setProperty("--series", color);
    setText(c.name, labelOf(rec));
    var cmd = rec.kind === "sum"
      ? "sum of " + ((rec.members && rec.members.length) || 0) + " process" + ((rec.members && rec.members.length) === 1 ? "" : "es") +
        (rec.name ? " · " + rec.name : "")
      : (rec.cmdline || rec.name || "");
    setText(c.cmd, cmd);
    c.cmd.title = cmd;
    var exited = rec.state === "exited";
    setAttr(c.root, "data-state", exited ? "exited" : "running");
    var recording = state.mode === "recording";
    setText(c.badge, exited ? (rec.exit_reason === "pid-reused" ? "ended" : "exited") : recording ? "recorded" : "running");
    setAttr(c.badge, "data-state", exited ? "exited" : "running");
    setAttr(c.badge, "data-mode", recording ? "recording" : null);
    setText(c.currentLabel, exited || recording ? "last" : "current");
    c.note.hidden = !exited;
    if (exited) setText(c.note, exitNote(rec));
    relabelSeries(rec.key);
    refreshCardAlerts(rec);
  }

  function setStat(el, bytes) {
    if (bytes == null || !isFinite(bytes)) {
      setText(el, DASH);
      setAttr(el, "data-bytes", null);
    } else {
      var b = Math.round(bytes);
      setText(el, fmtBytes(b));
      setAttr(el, "data-bytes", String(b));
    }
  }

  function updateCards(colOf, i0, i1) {
    state.targets.forEach(function (rec) {
      var c = rec.card;
      if (!c) return;
      var col = colOf(rec.key);
      var min = Infinity, max = -Infinity, sum = 0, count = 0;
      if (col) {
        for (var i = i0; i < i1; i++) {
          var v = col[i];
          if (v === null) continue;
          if (v < min) min = v;
          if (v > max) max = v;
          sum += v;
          count++;
        }
      }
      setAttr(c.root, "data-points", String(count));
      setAttr(c.root, "data-bucketed", String(rec.bucketed || 0));
      var current = rec.latest.rss;
      if (current == null) current = lastValue(store.cols.get(rec.key));
      setStat(c.current, current);
      setStat(c.min, count ? min : null);
      setStat(c.max, count ? max : null);
      setStat(c.avg, count ? sum / count : null);
      setText(c.threads, fmtCount(rec.latest.threads));
      setText(c.fds, fmtCount(rec.latest.fds));
      setText(c.cpu, rec.state === "exited" ? DASH : fmtCpu(rec.latest.cpu));
    });
  }

  function lastValue(col) {
    if (!col) return null;
    for (var i = col.length - 1; i >= 0; i--) if (col[i] !== null) return col[i];
    return null;
  }

  // ------------------------------------------------------------------ header, banner, footer

  var chipsEl = document.getElementById("target-chips");
  var bannerEl = document.getElementById("exit-banner");
  var bannerDetail = document.getElementById("exit-banner-detail");
  var chartSub = document.getElementById("chart-sub");
  var footInfo = document.getElementById("foot-info");
  var chipsSig = "";

  function updateChrome(range, plotted, downsampled) {
    // target chips
    var sig = "";
    state.targets.forEach(function (rec) { sig += rec.key + "|" + rec.state + "|" + labelOf(rec) + ";"; });
    sig += theme.dark;
    if (sig !== chipsSig) {
      chipsSig = sig;
      chipsEl.textContent = "";
      state.targets.forEach(function (rec) {
        var li = document.createElement("li");
        li.className = "chip";
        li.setAttribute("data-key", rec.key);
        li.setAttribute("data-state", rec.state === "exited" ? "exited" : "running");
        var dot = document.createElement("span");
        dot.className = "chip-dot";
        dot.style.background = colorOf(rec.key);
        var txt = document.createElement("span");
        txt.textContent = labelOf(rec) + (rec.state === "exited" ? " · exited" : "");
        li.title = rec.cmdline || labelOf(rec);
        li.appendChild(dot);
        li.appendChild(txt);
        chipsEl.appendChild(li);
      });
      if (!state.targets.size) {
        var li = document.createElement("li");
        li.className = "chip chip-empty";
        li.textContent = state.connected ? "no targets yet" : "";
        if (state.connected) chipsEl.appendChild(li);
      }
    }

    // exit banner
    var exited = [];
    state.targets.forEach(function (rec) { if (rec.state === "exited") exited.push(rec); });
    bannerEl.hidden = exited.length === 0;
    if (exited.length) {
      setText(bannerDetail, exited.map(function (rec) { return labelOf(rec) + " " + exitNote(rec); }).join(" · "));
    }

    // subtitle
    var n = store.times.length;
    var sub;
    if (!n) sub = state.connected ? "waiting for the first sample…" : "waiting for data…";
    else {
      var span = range[1] - range[0];
      sub = (state.zoom ? "zoomed: " : "") + fmtSpan(range[0], range[1]) +
        " (" + fmtDuration(span) + ", " + fmtThousands(plotted) + (downsampled ? " points, downsampled" : " samples") + ")";
      if (detailLoading()) sub += " · loading detail…";
      else if (downsampled && !state.zoom) sub += " · drag to zoom in for detail";
    }
    setText(chartSub, sub);
    chartSub.setAttribute("data-downsampled", downsampled ? "true" : "false");

    var foot = "memlens" + (state.version ? " " + state.version : "");
    if (state.protocol != null) foot += " · protocol " + state.protocol;
    if (state.mode === "recording") {
      foot += " · recording" + (state.recording ? " #" + state.recording.id : "") + " · sampled every " + fmtInterval(state.interval);
    } else {
      foot += " · sampling every " + fmtInterval(state.interval) + " · " + state.ticks + " ticks";
      if (state.recording) foot += " · recording to the store (#" + state.recording.id + ")";
    }
    setText(footInfo, foot);
  }

  // ------------------------------------------------------------------ alerts
  // "leak" and "threshold" messages, live and in the backfill's `alerts` (see
  // docs/protocol.md): a banner per active alert, a badge on the target's card, a marker on
  // the chart. Every alert is kept once, however many backfills repeat it; what an alert
  // shows is decided by the newest one of its banner (a target's leak, or a target's metric).

  var ALERT_CAP = 2000;            // alerts held; the oldest go first
  var SEVERITIES = ["low", "medium", "high", "critical"];
  var METRIC_NAMES = { rss: "RSS", system_memory: "system memory", leak_rate: "leak rate", gc_growth: "gc growth" };

  var alerts = {
    list: [],                    // {id, banner, n, t, msg}, by time then arrival
    seen: new Set(),             // ids of the alerts in list
    latest: new Map(),           // banner id -> the newest entry of that banner
    markers: [],                 // {t, key, kind: leak|cleared|above|below, severity, lo}
    dismissed: new Set(),        // ids of alerts whose banner the user closed
    arrivals: 0,
  };

  var alertsEl = document.getElementById("alerts");
  var alertTpl = document.getElementById("alert-tpl");
  var markerKeyEl = document.getElementById("marker-key");
  var bannerEls = new Map();     // banner id -> element

  function alertId(a) {
    return [a.type, a.key == null ? "" : a.key, +a.t, a.state, a.metric || ""].join("|");
  }

  function bannerIdOf(a) {
    return a.type === "leak" ? "leak|" + a.key : "threshold|" + (a.metric || "") + "|" + (a.key == null ? "" : a.key);
  }

  function validAlert(a) {
    if (!a || typeof a !== "object" || num(a.t) == null || typeof a.state !== "string") return false;
    if (a.type === "leak") return typeof a.key === "string";
    return a.type === "threshold" && (a.key == null || typeof a.key === "string");
  }

  function addAlerts(list) {
    if (!Array.isArray(list)) return;
    var added = 0;
    list.forEach(function (a) {
      if (!validAlert(a)) return;
      var id = alertId(a);
      if (alerts.seen.has(id)) return;
      alerts.seen.add(id);
      alerts.list.push({ id: id, banner: bannerIdOf(a), n: alerts.arrivals++, t: +a.t, msg: a });
      added++;
    });
    if (!added) return;
    alerts.list.sort(function (x, y) { return x.t - y.t || x.n - y.n; });
    if (alerts.list.length > ALERT_CAP) {
      alerts.list.splice(0, alerts.list.length - ALERT_CAP).forEach(function (e) {
        alerts.seen.delete(e.id);
        alerts.dismissed.delete(e.id);
      });
    }
    document.body.dataset.alerts = String(alerts.seen.size);
    refreshAlerts();
    needRender();
  }

  function severityOf(msg) {
    var s = msg.severity || (msg.finding && msg.finding.severity);
    return SEVERITIES.indexOf(s) >= 0 || s === "none" ? s : "medium";   // "none": a leak withdrawn
  }

  // a number from a message field; null (not 0) when absent
  function num(x) { return x == null || x === "" || !isFinite(+x) ? null : +x; }

  function onsetOf(msg) { return msg.finding ? num(msg.finding.onset) : null; }

  function metricName(metric) { return METRIC_NAMES[metric] || String(metric || "value"); }

  // What a banner shows now: "active", "withdrawn" (a leak cleared) or null (nothing).
  function bannerMode(e) {
    var m = e.msg;
    if (m.type === "leak") return m.state === "cleared" ? "withdrawn" : "active";
    return m.state === "above" ? "active" : null;
  }

  function refreshAlerts() {
    var latest = new Map(), markers = [], leakLast = new Map();
    alerts.list.forEach(function (e) {
      latest.set(e.banner, e);
      var m = e.msg;
      if (m.type === "leak") {
        var raised = m.state !== "cleared";
        var mk = { t: e.t, key: m.key, kind: raised ? "leak" : "cleared", severity: severityOf(m), lo: null };
        var onset = onsetOf(m);
        if (raised && onset != null && onset < e.t) {
          // a raise repeated (a higher severity) shades on from the previous one: no overlap
          var prev = leakLast.get(m.key);
          mk.lo = prev != null ? Math.max(onset, prev) : onset;
          if (mk.lo >= e.t) mk.lo = null;
        }
        leakLast.set(m.key, e.t);
        markers.push(mk);
      } else {
        markers.push({ t: e.t, key: m.key == null ? null : m.key, kind: m.state === "above" ? "above" : "below", severity: null, lo: null });
      }
    });
    alerts.latest = latest;
    alerts.markers = markers;
    renderBanners();
    state.targets.forEach(refreshCardAlerts);
  }

  function renderBanners() {
    var want = [];
    alerts.latest.forEach(function (e, bid) {
      var mode = bannerMode(e);
      if (mode) want.push({ bid: bid, e: e, mode: mode });
    });
    // active leaks first, the most severe first; then limits; then withdrawn notes; newest first
    function rank(w) {
      if (w.mode === "withdrawn") return 0;
      return w.e.msg.type === "leak" ? 10 + SEVERITIES.indexOf(severityOf(w.e.msg)) : 5;
    }
    want.sort(function (a, b) { return rank(b) - rank(a) || b.e.t - a.e.t; });

    var keep = new Set();
    var visible = 0, active = 0;
    want.forEach(function (w, i) {
      keep.add(w.bid);
      var el = bannerEls.get(w.bid);
      if (!el) {
        el = createBanner(w.bid);
        bannerEls.set(w.bid, el);
      }
      fillBanner(el, w.e, w.mode);
      el.hidden = alerts.dismissed.has(w.e.id);
      if (!el.hidden) { visible++; if (w.mode === "active") active++; }
      // move only what is out of place (a moved live region may be read out again)
      if (alertsEl.children[i] !== el) alertsEl.insertBefore(el, alertsEl.children[i] || null);
    });
    bannerEls.forEach(function (el, bid) {
      if (keep.has(bid)) return;
      el.remove();
      bannerEls.delete(bid);
    });
    alertsEl.hidden = visible === 0;
    setAttr(alertsEl, "data-active", String(active));
  }

  function createBanner(bid) {
    var el = alertTpl.content.firstElementChild.cloneNode(true);
    el.querySelector(".alert-dismiss").addEventListener("click", function () {
      var e = alerts.latest.get(bid);
      if (e) alerts.dismissed.add(e.id);
      renderBanners();
    });
    el.querySelector(".alert-show").addEventListener("click", function () { showOnChart(bid); });
    return el;
  }

  function fillBanner(el, e, mode) {
    var m = e.msg, isLeak = m.type === "leak";
    setAttr(el, "data-banner", e.banner);
    setAttr(el, "data-alert-type", m.type);
    setAttr(el, "data-alert-key", m.key == null ? "system" : m.key);
    setAttr(el, "data-state", m.state);
    setAttr(el, "data-severity", isLeak ? severityOf(m) : null);
    setAttr(el, "data-metric", isLeak ? null : String(m.metric || ""));
    setAttr(el, "data-t", String(e.t));
    // a withdrawn leak is news, not an alarm
    setAttr(el, "role", mode === "withdrawn" ? "status" : "alert");
    var tag;
    if (isLeak) tag = mode === "withdrawn" ? "leak withdrawn" : "LEAK \u00b7 " + severityOf(m);
    else tag = metricName(m.metric) + " over limit";
    setText(el.querySelector(".alert-tag"), tag);
    setText(el.querySelector(".alert-text"), typeof m.text === "string" && m.text ? m.text : alertFallbackText(m));
    var when = el.querySelector(".alert-time");
    setText(when, fmtWhen(e.t));
    when.title = new Date(e.t * 1000).toString();
    el.querySelector(".alert-show").hidden = !(isLeak && state.targets.has(m.key));
  }

  function alertFallbackText(m) {
    var who = m.key == null ? "system" : (state.targets.has(m.key) ? labelOf(state.targets.get(m.key)) : m.key);
    if (m.type === "leak") return who + ": leak " + (m.state === "cleared" ? "withdrawn" : "(" + severityOf(m) + ")");
    return who + ": " + metricName(m.metric) + " " + m.state + " the limit";
  }

  // Zoom the chart onto a leak: from the onset its last raise gave to its newest alert.
  function showOnChart(bid) {
    var last = alerts.latest.get(bid);
    if (!last) return;
    var t = last.t, onset = null;
    alerts.list.forEach(function (e) {
      if (e.banner === bid && e.msg.state !== "cleared" && onsetOf(e.msg) != null) onset = onsetOf(e.msg);
    });
    if (onset == null || onset > t) onset = t - 60;
    var pad = Math.max((t - onset) * 0.15, state.interval * 10, 2);
    var lo = onset - pad, hi = t + pad, times = store.times;
    if (times.length) {
      lo = Math.max(lo, times[0]);
      hi = Math.min(hi, times[times.length - 1]);
    }
    if (hi - lo < 1) return;
    setZoom([lo, hi]);
    chartEl.scrollIntoView({ block: "nearest" });
  }

  function refreshCardAlerts(rec) {
    var c = rec.card;
    if (!c || !c.flags) return;
    var leak = alerts.latest.get("leak|" + rec.key);
    var leakOn = !!leak && leak.msg.state !== "cleared";
    var metrics = [], texts = [];
    alerts.latest.forEach(function (e) {
      var m = e.msg;
      if (m.type === "threshold" && m.key === rec.key && m.state === "above") {
        metrics.push(String(m.metric || ""));
        texts.push(m.text || "");
      }
    });
    c.leak.hidden = !leakOn;
    setAttr(c.leak, "data-severity", leakOn ? severityOf(leak.msg) : null);
    if (leakOn) {
      setText(c.leak, "LEAK \u00b7 " + severityOf(leak.msg));
      c.leak.title = leak.msg.text || "";
    }
    c.threshold.hidden = metrics.length === 0;
    setAttr(c.threshold, "data-metric", metrics.length ? metrics.join(" ") : null);
    if (metrics.length) {
      setText(c.threshold, metrics.map(metricName).join(", ") + " over limit");
      c.threshold.title = texts.join("\n");
    }
    c.flags.hidden = !leakOn && !metrics.length;
    setAttr(c.root, "data-leak", leakOn ? severityOf(leak.msg) : null);
  }

  // markers of the targets on the chart (a series hidden from the legend hides its own)
  function markerShown(u, mk) {
    if (mk.key == null) return true;
    var i = chartKeys.indexOf(mk.key);
    return i >= 0 && !!u.series[i + 1] && u.series[i + 1].show !== false;
  }

  function updateMarkerCount() {
    var n = 0;
    alerts.markers.forEach(function (mk) { if (mk.key == null || chartKeys.indexOf(mk.key) >= 0) n++; });
    setAttr(chartEl, "data-markers", String(n));
    markerKeyEl.hidden = n === 0;
  }

  function clipToPlot(u, ctx) {
    var b = u.bbox;
    ctx.beginPath();
    ctx.rect(b.left, b.top, b.width, b.height);
    ctx.clip();
  }

  function drawMarkerShades(u) {
    var xs = u.scales.x, ctx = u.ctx, b = u.bbox;
    if (!alerts.markers.length || xs.min == null) return;
    ctx.save();
    clipToPlot(u, ctx);
    ctx.globalAlpha = theme.dark ? 0.16 : 0.11;
    alerts.markers.forEach(function (mk) {
      if (mk.lo == null || mk.t < xs.min || mk.lo > xs.max || !markerShown(u, mk)) return;
      var x0 = u.valToPos(Math.max(mk.lo, xs.min), "x", true), x1 = u.valToPos(Math.min(mk.t, xs.max), "x", true);
      ctx.fillStyle = theme.severity[mk.severity] || theme.limit;
      ctx.fillRect(x0, b.top, Math.max(1, x1 - x0), b.height);
    });
    ctx.restore();
  }

  function drawMarkerLines(u) {
    var xs = u.scales.x, ctx = u.ctx, b = u.bbox, px = uPlot.pxRatio || 1, shown = 0;
    if (alerts.markers.length && xs.min != null) {
      ctx.save();
      clipToPlot(u, ctx);
      alerts.markers.forEach(function (mk) {
        if (mk.t < xs.min || mk.t > xs.max || !markerShown(u, mk)) return;
        shown++;
        var x = Math.round(u.valToPos(mk.t, "x", true));
        var color, width, dash = [];
        if (mk.kind === "leak") { color = theme.severity[mk.severity] || theme.limit; width = 2; }
        else if (mk.kind === "cleared") { color = theme.quiet; width = 1.5; dash = [5, 4]; }
        else if (mk.kind === "above") { color = theme.limit; width = 1; dash = [3, 3]; }
        else { color = theme.quiet; width = 1; dash = [3, 3]; }
        ctx.strokeStyle = color;
        ctx.lineWidth = width * px;
        ctx.setLineDash(dash.map(function (d) { return d * px; }));
        ctx.beginPath();
        ctx.moveTo(x + 0.5, b.top);
        ctx.lineTo(x + 0.5, b.top + b.height);
        ctx.stroke();
        if (mk.kind === "leak" || mk.kind === "above") {
          // a small flag on top, in the target's colour, says whose alert it is
          var s = (mk.kind === "leak" ? 6 : 4) * px;
          ctx.setLineDash([]);
          ctx.fillStyle = color;
          ctx.beginPath();
          ctx.moveTo(x + 0.5 - s, b.top);
          ctx.lineTo(x + 0.5 + s, b.top);
          ctx.lineTo(x + 0.5, b.top + s * 1.3);
          ctx.closePath();
          ctx.fill();
          if (mk.key != null && processSeriesCount() > 1) {
            ctx.fillStyle = colorOf(mk.key);
            ctx.fillRect(x + 0.5 - s / 2, b.top, s, s / 2);
          }
        }
      });
      ctx.restore();
    }
    setAttr(chartEl, "data-markers-visible", String(shown));
  }

  // ------------------------------------------------------------------ Python panel
  // For a process that runs the Python agent (target.python, or samples whose Python fields
  // are known): the traced heap drawn against RSS on the main chart's time axis (the gap is
  // what tracemalloc does not see), the garbage collector's activity and pauses, and the
  // allocation sites that grow fastest ("python" messages, see docs/protocol.md). One
  // panel; a selector picks the process when several run an agent.

  var PY_COLS = ["rss", "py_heap", "py_heap_peak", "py_blocks", "gc_collections", "gc_uncollectable"];
  var PY_FIELDS = PY_COLS.slice(1);
  var PY_SYNC = "memlens-time";    // cursor sync between the RSS chart and the panel's charts
  var PY_PAUSES_SHOWN = 6;         // latest gc pauses listed
  var PY_PATH_MAX = 44;            // longer file paths are shortened (the full one in a title)
  var MINUS = "\u2212";

  var py = {
    key: null,                     // the process the panel shows
    heapChart: null,
    gcChart: null,
    chartKey: null,                // the process the charts were made for
    dataSig: "",                   // what the charts show now: redrawn only when it changes
    optionsSig: "",
    topShown: null,                // the top answer the table shows (and the state it was drawn in)
    pausesShown: null,
  };

  var pyPanel = document.getElementById("python-panel");
  function pyQ(role) { return pyPanel.querySelector('[data-role="' + role + '"]'); }
  var pyEl = {
    target: pyQ("py-target"), info: pyQ("py-info"),
    selectWrap: pyQ("target-select-wrap"), select: pyQ("target-select"),
    tools: pyQ("trace-tools"), frames: pyQ("frames"), toggle: pyQ("trace-toggle"), error: pyQ("trace-error"),
    gap: pyQ("heap-gap"), gapValue: pyQ("heap-gap-value"), figures: pyQ("heap-figures"), note: pyQ("trace-note"),
    heapChart: document.getElementById("python-heap-chart"), gcChart: document.getElementById("python-gc-chart"),
    collections: pyQ("gc-collections"), uncollectable: pyQ("gc-uncollectable"), blocks: pyQ("py-blocks"),
    pauses: pyQ("gc-pauses"), pausesSummary: pyQ("gc-pauses-summary"), pauseList: pyQ("gc-pause-list"),
    topSub: pyQ("top-sub"), growthHead: pyQ("growth-head"), topEmpty: pyQ("top-empty"),
    topTable: document.getElementById("python-top"),
    topBody: document.querySelector("#python-top tbody"),
  };

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
      gcLastT: -Infinity, gcVersion: 0,
      gc: { count: 0, total: 0, max: null, since: null, dropped: 0, last: null, pauses: [] },
    };
  }

  // The record's Python state, made on first use with the RSS the store holds already.
  function pyOf(rec) {
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

  function pyEligible(rec) { return !!rec.python || !!(rec.py && rec.py.any); }

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
  function pyOnSample(rec, t, vals) {
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
  function pyOnSeries(rec, t, cols) {
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
  function onPython(msg) {
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

  function pyTracing(rec, ps) {
    if (ps.pending && Date.now() <= ps.pending.until) return ps.pending.tracing;
    if (ps.any && ps.latest.t > -Infinity) return ps.latest.py_heap != null;
    return !!(rec.python && rec.python.tracing);
  }

  function pyFrames(rec, ps) {
    if (ps.frames > 0) return ps.frames;
    return rec.python && +rec.python.frames > 0 ? +rec.python.frames : 0;
  }

  // ---- the switch

  function pyErrorText(status, body) {
    var why = body && typeof body.error === "string" && body.error ? ": " + body.error : "";
    if (status === 409) return "The agent refused" + why + " (the program runs tracemalloc itself; memlens leaves it alone).";
    if (status === 503) return "The agent does not answer" + why + ".";
    if (status === 404) return "This process has no Python agent any more" + why + ".";
    return "The server refused the request (HTTP " + status + ")" + why + ".";
  }

  function pySetTracing(rec, on) {
    var ps = pyOf(rec);
    if (ps.busy) return;
    var frames = parseInt(pyEl.frames.value, 10) || 1;
    var body = on ? { target: rec.key, on: true, frames: frames } : { target: rec.key, on: false };
    ps.busy = true;
    ps.error = "";
    needRender();
    fetch(apiUrl("api/python/tracemalloc"), {
      method: "POST",
      cache: "no-store",
      credentials: "same-origin",
      headers: { "content-type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    })
      .then(function (r) {
        return r.json().catch(function () { return null; }).then(function (answer) {
          if (!r.ok) { ps.error = pyErrorText(r.status, answer); return; }
          var tracing = !!(answer && answer.tracing);
          ps.pending = { tracing: tracing, until: Date.now() + Math.max(3000, state.interval * 4000) };
          ps.frames = tracing ? (num(answer.frames) || frames) : 0;
          ps.since = tracing && answer && num(answer.since) != null ? +answer.since : null;
          if (rec.python) { rec.python.tracing = tracing; rec.python.frames = ps.frames; }
          if (tracing !== on) ps.error = "The agent answered that tracing is " + (tracing ? "on" : "off") + ".";
        });
      })
      .catch(function (e) { ps.error = "The server did not answer (" + (e && e.message ? e.message : "network error") + ")."; })
      .then(function () { ps.busy = false; needRender(); });
  }

  pyEl.toggle.addEventListener("click", function () {
    var rec = py.key ? state.targets.get(py.key) : null;
    if (!rec) return;
    pySetTracing(rec, !pyTracing(rec, pyOf(rec)));
  });

  pyEl.select.addEventListener("change", function () {
    py.key = pyEl.select.value || null;
    renderNow();
  });

  // ---- charts

  // counts: every label in the unit of the largest tick (k, M), decimals from the step
  function fmtCountAxis(u, splits, axisIdx, space, incr) {
    var top = 0;
    for (var i = 0; i < splits.length; i++) top = Math.max(top, Math.abs(splits[i]));
    var div = top >= 1e6 ? 1e6 : top >= 1e4 ? 1e3 : 1, unit = div === 1e6 ? "M" : div === 1e3 ? "k" : "";
    var step = (incr || 1) / div;
    var dec = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step) - 1e-9));
    return splits.map(function (v) {
      if (v === 0) return "0";
      return div === 1 && dec === 0 ? fmtThousands(v) : (v / div).toFixed(dec) + unit;
    });
  }

  var COUNT_INCRS = (function () {
    var out = [];
    for (var p = 0; p < 10; p++) [1, 2, 5].forEach(function (m) { out.push(m * Math.pow(10, p)); });
    return out;
  })();

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
      stroke: theme.axis,
      font: "12px " + FONT_STACK,
      grid: { stroke: theme.grid, width: 1 },
      ticks: { stroke: theme.grid, width: 1, size: 5 },
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

  function pyMakeCharts(rec) {
    pyDestroyCharts();
    var common = pyAxes();
    var color = colorOf(rec.key);
    var heapOpts = pyChartOpts(pyChartWidth(pyEl.heapChart), 220, [
      {
        label: "RSS", stroke: color, width: 1.75, spanGaps: false, gaps: pyGaps, points: { show: false },
        fill: hexToRgba(color, theme.dark ? 0.10 : 0.07),
        value: function (u, v) { return fmtBytes(v); },
      },
      {
        label: "traced Python heap", stroke: theme.pyHeap, width: 2, dash: [6, 4], spanGaps: false, gaps: pyGaps,
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
        label: "gc collections per sample", scale: "n", stroke: theme.pyGc, fill: hexToRgba(theme.pyGc, 0.55),
        width: 1, paths: bars, points: { show: false },
        value: function (u, v) { return v == null ? DASH : fmtThousands(v); },
      },
      {
        label: "Python objects (allocator blocks)", scale: "blocks", stroke: theme.pyBlocks, width: 1.5,
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

  function pyDestroyCharts() {
    if (py.heapChart) py.heapChart.destroy();
    if (py.gcChart) py.gcChart.destroy();
    py.heapChart = py.gcChart = null;
    py.chartKey = null;
    py.dataSig = "";
  }

  function pyResize() {
    [[py.heapChart, pyEl.heapChart], [py.gcChart, pyEl.gcChart]].forEach(function (pair) {
      var u = pair[0];
      if (!u) return;
      var w = pyChartWidth(pair[1]);
      if (w !== u.width) u.setSize({ width: w, height: u.height });
    });
  }

  // The panel's series over [lo, hi], one point either side; counts for the readouts.
  function pyView(ps, lo, hi) {
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

  // ---- rendering

  function pyTargets() {
    var out = [];
    state.targets.forEach(function (rec) { if (pyEligible(rec)) out.push(rec); });
    return out;
  }

  function fmtSignedBytes(v) {
    if (v == null || !isFinite(v)) return DASH;
    if (v === 0) return "\u00b10 B";
    return (v > 0 ? "+" : MINUS) + fmtBytes(Math.abs(v));
  }

  function fmtSignedCount(v) {
    if (v == null || !isFinite(v)) return "";
    return (v > 0 ? "+" : v < 0 ? MINUS : "\u00b1") + fmtThousands(Math.abs(v));
  }

  function fmtMs(s) {
    if (s == null || !isFinite(s)) return DASH;
    var ms = s * 1000;
    return (ms >= 100 ? Math.round(ms) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)) + " ms";
  }

  function shortPath(file) {
    var f = String(file);
    if (f.length <= PY_PATH_MAX) return f;
    var parts = f.split(/[\\/]/);
    var tail = parts.slice(-2).join("/");
    if (tail.length > PY_PATH_MAX - 2) tail = parts[parts.length - 1];
    if (tail.length > PY_PATH_MAX - 2) tail = tail.slice(-(PY_PATH_MAX - 2));
    return "\u2026/" + tail;
  }

  function renderPython(range) {
    var list = pyTargets();
    if (!list.length) {
      if (!pyPanel.hidden) { pyPanel.hidden = true; pyDestroyCharts(); }
      setAttr(pyPanel, "data-key", null);
      return;
    }
    var rec = py.key ? state.targets.get(py.key) : null;
    if (!rec || !pyEligible(rec)) {
      rec = null;
      list.forEach(function (r) { if (!rec || (rec.state === "exited" && r.state !== "exited")) rec = r; });
      py.key = rec.key;
    }
    var ps = pyOf(rec);
    pyPanel.hidden = false;
    setAttr(pyPanel, "data-key", rec.key);
    setAttr(pyPanel, "data-state", rec.state === "exited" ? "exited" : "running");
    pyPanel.style.setProperty("--series", colorOf(rec.key));

    // which process
    var sig = list.map(function (r) { return r.key + "|" + labelOf(r) + "|" + r.state; }).join(";");
    if (sig !== py.optionsSig) {
      py.optionsSig = sig;
      pyEl.select.textContent = "";
      list.forEach(function (r) {
        var o = document.createElement("option");
        o.value = r.key;
        o.textContent = labelOf(r) + (r.state === "exited" ? " \u00b7 exited" : "");
        pyEl.select.appendChild(o);
      });
    }
    if (pyEl.select.value !== rec.key) pyEl.select.value = rec.key;
    pyEl.selectWrap.hidden = list.length < 2;
    setText(pyEl.target, labelOf(rec));

    // the agent and the switch
    var tracing = pyTracing(rec, ps), frames = pyFrames(rec, ps);
    var live = state.mode !== "recording", exited = rec.state === "exited";
    var info = [];
    if (rec.python && rec.python.python) info.push("Python " + rec.python.python);
    if (rec.python && rec.python.address) info.push("agent at " + rec.python.address);
    info.push(tracing ? "allocations traced" + (frames ? " (" + frames + " frame" + (frames === 1 ? "" : "s") + ")" : "") : "allocations not traced");
    setText(pyEl.info, info.join(" \u00b7 "));
    setAttr(pyPanel, "data-tracing", tracing ? "true" : "false");
    pyEl.tools.hidden = !live;
    setAttr(pyEl.toggle, "data-tracing", tracing ? "true" : "false");
    setText(pyEl.toggle, ps.busy ? (tracing ? "Stopping\u2026" : "Starting\u2026") : tracing ? "Stop tracing" : "Trace Python allocations");
    pyEl.toggle.disabled = ps.busy || exited || !rec.python;
    pyEl.toggle.title = exited ? "the process has exited" : !rec.python ? "no agent to ask" : "";
    pyEl.frames.disabled = tracing || ps.busy || exited;
    if (tracing && frames && pyEl.frames.querySelector('option[value="' + frames + '"]')) pyEl.frames.value = String(frames);
    pyEl.error.hidden = !ps.error;
    setText(pyEl.error, ps.error);

    var note = "";
    if (!tracing) {
      note = !live ? "Python allocations were not traced at this point of the recording."
        : exited ? "The process has exited."
        : "Python allocations are not traced, so the traced heap and the growing allocation sites are unknown. " +
          "Tracing (tracemalloc) costs the program some speed and memory while it is on.";
    }
    pyEl.note.hidden = !note;
    setText(pyEl.note, note);

    // charts
    if (!py.heapChart || py.chartKey !== rec.key) pyMakeCharts(rec);
    var lo = viewRange ? viewRange[0] : range[0], hi = viewRange ? viewRange[1] : range[1];
    var view = pyView(ps, lo, hi);
    var dsig = rec.key + "|" + ps.version + "|" + lo + "|" + hi + "|" + theme.dark;
    if (dsig !== py.dataSig) {
      py.dataSig = dsig;
      py.heapChart.setData([view.t, view.rss, view.heap]);
      py.gcChart.setData([view.t, view.perSample, view.blocks]);
    }
    setAttr(pyEl.heapChart, "data-heap-points", String(view.heapPoints));
    setAttr(pyPanel, "data-heap-points", String(view.heapPoints));

    // RSS - traced heap
    var l = ps.latest;
    var gap = l.rss != null && l.py_heap != null ? l.rss - l.py_heap : null;
    setAttr(pyEl.gap, "data-bytes", gap == null ? null : String(Math.round(gap)));
    setText(pyEl.gapValue, gap == null ? DASH : fmtBytes(gap));
    pyEl.gap.title = gap == null ? "known while Python allocations are traced" : "RSS " + fmtBytes(l.rss) + " \u2212 traced heap " + fmtBytes(l.py_heap);
    var figs = "";
    if (l.py_heap != null) {
      figs = "traced heap " + fmtBytes(l.py_heap) + (l.py_heap_peak != null ? " (peak " + fmtBytes(l.py_heap_peak) + ")" : "") +
        " \u00b7 RSS " + fmtBytes(l.rss) + (l.rss > 0 ? " \u00b7 Python sees " + Math.round(100 * l.py_heap / l.rss) + "% of it" : "");
    }
    setText(pyEl.figures, figs);
    pyEl.figures.hidden = !figs;

    // gc and objects
    var span = view.t.length ? Math.max(view.t[view.t.length - 1] - view.t[0], 0) : 0;
    var collected = null;
    for (var i = 1; i < view.t.length; i++) if (view.perSample[i] != null) collected = (collected || 0) + view.perSample[i];
    setText(pyEl.collections, l.gc_collections == null ? DASH : fmtThousands(l.gc_collections) +
      (collected != null && span > 0 ? " \u00b7 +" + fmtThousands(collected) + " in view" : ""));
    setText(pyEl.uncollectable, l.gc_uncollectable == null ? DASH : fmtThousands(l.gc_uncollectable));
    setAttr(pyEl.uncollectable, "data-warn", l.gc_uncollectable > 0 ? "true" : null);
    var trend = null, trendText = "";
    if (view.firstBlocks && view.lastBlocks && view.lastBlocks.t > view.firstBlocks.t) {
      trend = view.lastBlocks.v - view.firstBlocks.v;
      var per = trend / (view.lastBlocks.t - view.firstBlocks.t) * 60;
      trendText = " \u00b7 " + fmtSignedCount(trend) + " in " + fmtDuration(view.lastBlocks.t - view.firstBlocks.t) +
        " (" + fmtSignedCount(per) + "/min)";
    }
    setText(pyEl.blocks, l.py_blocks == null ? DASH : fmtThousands(l.py_blocks) + trendText);
    setAttr(pyEl.blocks, "data-trend", trend == null ? null : trend > 0 ? "up" : trend < 0 ? "down" : "flat");

    renderPauses(ps);
    renderTop(ps, tracing, live);
  }

  function renderPauses(ps) {
    var g = ps.gc;
    var shown = py.key + "|" + ps.gcVersion;
    if (py.pausesShown === shown) return;
    py.pausesShown = shown;
    pyEl.pauseList.textContent = "";
    if (!g.last) {
      setAttr(pyEl.pauses, "data-count", null);
      setText(pyEl.pausesSummary, "gc pauses: waiting for the agent's first answer (it is asked every 5 s)");
      return;
    }
    setAttr(pyEl.pauses, "data-count", String(g.count));
    setAttr(pyEl.pauses, "data-max-ms", g.max == null ? null : String(Math.round(g.max * 1e6) / 1000));
    var s = "gc pauses since " + fmtWhen(g.since) + ": " + fmtThousands(g.count) + (g.count === 1 ? " pause" : " pauses");
    if (g.count > 0) s += ", " + fmtMs(g.total) + " in all, longest " + fmtMs(g.max);
    if (g.last.count != null) s += " \u00b7 last 5 s: " + fmtThousands(g.last.count) + (g.last.count > 0 ? ", longest " + fmtMs(g.last.max) : "");
    if (g.dropped > 0) s += " \u00b7 " + fmtThousands(g.dropped) + " not kept";
    if (!g.last.collecting) s += " \u00b7 not collecting";
    setText(pyEl.pausesSummary, s);
    g.pauses.forEach(function (p) {
      var li = document.createElement("li");
      li.setAttribute("data-generation", String(p.generation));
      var when = document.createElement("span");
      when.className = "py-pause-time muted";
      when.textContent = num(p.time) != null ? fmtClock(+p.time) : DASH;
      var what = document.createElement("span");
      what.className = "py-pause-gen";
      what.textContent = "gen " + (p.generation == null ? "?" : p.generation);
      var dur = document.createElement("span");
      dur.className = "py-pause-dur";
      dur.textContent = fmtMs(num(p.duration_s));
      li.appendChild(when);
      li.appendChild(what);
      li.appendChild(dur);
      if (num(p.collected) != null) {
        var col = document.createElement("span");
        col.className = "py-pause-collected muted";
        col.textContent = fmtThousands(+p.collected) + " collected" + (+p.uncollectable > 0 ? ", " + fmtThousands(+p.uncollectable) + " uncollectable" : "");
        li.appendChild(col);
      }
      pyEl.pauseList.appendChild(li);
    });
  }

  function renderTop(ps, tracing, live) {
    var top = ps.top;
    var shown = py.key + "|" + ps.topVersion + "|" + tracing;
    if (py.topShown === shown) return;
    py.topShown = shown;
    var body = pyEl.topBody;
    body.textContent = "";
    var data = top ? top.data : null;
    var sites = data && Array.isArray(data.sites) ? data.sites : [];
    var sinceStart = data && data.baseline === "trace_start";
    setText(pyEl.growthHead, sinceStart ? "growth since tracing began" : "growth since the previous look");
    sites.forEach(function (site) {
      if (!site || typeof site !== "object") return;
      var file = String(site.file == null ? "?" : site.file), line = site.line == null ? "" : String(site.line);
      var tr = document.createElement("tr");
      tr.setAttribute("data-file", file);
      tr.setAttribute("data-line", line);
      var where = document.createElement("td");
      where.className = "py-site";
      where.title = file + (line ? ":" + line : "");
      var f = document.createElement("span");
      f.className = "py-file";
      f.textContent = shortPath(file);
      where.appendChild(f);
      if (line) {
        var ln = document.createElement("span");
        ln.className = "py-line";
        ln.textContent = ":" + line;
        where.appendChild(ln);
      }
      var size = document.createElement("td");
      size.className = "num";
      size.textContent = fmtBytes(num(site.size_bytes));
      var diff = num(site.size_diff_bytes);
      var growth = document.createElement("td");
      growth.className = "num py-growth";
      growth.textContent = fmtSignedBytes(diff);
      growth.setAttribute("data-sign", diff > 0 ? "up" : diff < 0 ? "down" : "flat");
      if (diff != null) growth.setAttribute("data-bytes", String(Math.round(diff)));
      var count = document.createElement("td");
      count.className = "num";
      count.textContent = fmtCount(num(site.count));
      var cd = num(site.count_diff);
      if (cd) {
        var small = document.createElement("span");
        small.className = "py-count-diff muted";
        small.textContent = " " + fmtSignedCount(cd);
        count.appendChild(small);
      }
      tr.appendChild(where);
      tr.appendChild(size);
      tr.appendChild(growth);
      tr.appendChild(count);
      body.appendChild(tr);
    });
    var has = body.children.length > 0;
    pyEl.topTable.hidden = !has;
    setAttr(pyEl.topTable, "data-stale", has && !tracing ? "true" : null);
    var empty = "";
    if (!has) {
      if (tracing) empty = top ? "The traced heap holds no allocation sites that grew." : "Tracing: memlens looks at the allocation sites every 10 s; the first look comes soon.";
      else empty = live ? "No allocation sites: they are known only while Python allocations are traced. Turn tracing on with the button above; memlens then looks every 10 s."
        : "No allocation sites were looked at in this recording.";
    }
    pyEl.topEmpty.hidden = has;
    setText(pyEl.topEmpty, empty);
    var sub = "";
    if (data) {
      sub = "as of " + fmtWhen(top.t);
      if (num(data.total_bytes) != null) sub += " \u00b7 traced in all " + fmtBytes(+data.total_bytes);
      if (num(data.total_diff_bytes) != null) sub += " (" + fmtSignedBytes(+data.total_diff_bytes) + ")";
      if (has && !tracing) sub += " \u00b7 tracing is off now: the last look";
    }
    setText(pyEl.topSub, sub);
  }

  // ------------------------------------------------------------------ system strip
  // The machine as a whole (docs/protocol.md, "System fields"): hello.system_fields says
  // the server reads it, the backfill's `system` holds its recent readings (a recording's,
  // thinned), each tick's `system` the latest one. A tile per figure shows the newest value
  // as text, and a sparkline of the readings in the chart's visible range; the strip stays
  // hidden while the server sends none (--no-system, a recording made without them).

  var SYS_FIELDS = ["cpu_percent", "mem_total", "mem_used", "mem_available", "mem_percent",
    "swap_total", "swap_used", "disk_read_bps", "disk_write_bps", "net_rx_bps", "net_tx_bps"];
  var SYS_SPARK_W = 100, SYS_SPARK_H = 24, SYS_SPARK_POINTS = 120;

  var sysEl = document.getElementById("system-strip");
  var sysTilesEl = document.getElementById("system-tiles");
  var sysWhenEl = document.getElementById("system-when");
  var sysTpl = document.getElementById("sys-tpl");

  function sysNew() {
    var cols = {};
    SYS_FIELDS.forEach(function (f) { cols[f] = []; });
    return { t: [], cols: cols, gpus: [], latest: null, lastSig: "", version: 0 };
  }

  var sys = sysNew();
  sys.enabled = false;             // hello.system_fields named some
  sys.tiles = new Map();           // tile key -> {root, value, sub, line}
  sys.drawn = "";                  // what the sparklines show now

  function sysReset() {
    var fresh = sysNew();
    Object.keys(fresh).forEach(function (k) { sys[k] = fresh[k]; });
    sys.drawn = "";
  }

  function fmtPercent(v) { return v == null || !isFinite(v) ? DASH : (+v).toFixed(1) + " %"; }
  function fmtRate(v) { return v == null || !isFinite(v) ? DASH : fmtBytes(v) + "/s"; }

  function sysSig(vals) { return SYS_FIELDS.map(function (f) { return vals[f]; }).join("|"); }

  function sysTrim() {
    var n = sys.t.length;
    if (n <= state.cap + TRIM_SLACK) return;
    var drop = n - state.cap;
    sys.t.splice(0, drop);
    sys.gpus.splice(0, drop);
    SYS_FIELDS.forEach(function (f) { sys.cols[f].splice(0, drop); });
  }

  // One reading: a tick's (whose `t` stands for it) or a backfill's row.
  function sysOnReading(t, vals, gpus) {
    var sig = sysSig(vals);
    // a tick repeats the last reading until the next is read: one point each
    if (sig === sys.lastSig) return;
    var n = sys.t.length;
    if (n && t <= sys.t[n - 1] + EPS) return;
    sys.lastSig = sig;
    sys.t.push(t);
    SYS_FIELDS.forEach(function (f) { sys.cols[f].push(num(vals[f])); });
    sys.gpus.push(Array.isArray(gpus) ? gpus : null);
    sys.latest = { t: t, vals: vals, gpus: Array.isArray(gpus) ? gpus : [] };
    sys.version++;
    sysTrim();
  }

  // backfill.system: all the server holds, so it replaces what the page held
  function sysOnSeries(series) {
    sysReset();
    if (!series || typeof series !== "object" || !Array.isArray(series.t)) return;
    var gpus = Array.isArray(series.gpus) ? series.gpus : [];
    for (var i = 0; i < series.t.length; i++) {
      var t = num(series.t[i]);
      if (t == null) continue;
      var vals = {};
      SYS_FIELDS.forEach(function (f) { vals[f] = pick(series[f], i); });
      sysOnReading(t, vals, pick(gpus, i));
    }
  }

  function sysTile(key, label) {
    var tile = sys.tiles.get(key);
    if (tile) return tile;
    var node = sysTpl.content.firstElementChild.cloneNode(true);
    var q = function (role) { return node.querySelector('[data-role="' + role + '"]'); };
    tile = { root: node, label: q("label"), value: q("value"), sub: q("sub"), line: node.querySelector("polyline") };
    setText(tile.label, label);
    sys.tiles.set(key, tile);
    sysTilesEl.appendChild(node);
    return tile;
  }

  function sysGpu(gpus, index) {
    if (!Array.isArray(gpus)) return null;
    for (var i = 0; i < gpus.length; i++) if (gpus[i] && gpus[i].index === index) return gpus[i];
    return null;
  }

  // The tiles' texts from the newest reading.
  function sysFill(latest) {
    var v = latest.vals;
    var cpu = sysTile("cpu_percent", "CPU");
    setAttr(cpu.root, "data-metric", "cpu_percent");
    setText(cpu.value, fmtPercent(num(v.cpu_percent)));
    setText(cpu.sub, "all cores");
    setAttr(cpu.root, "data-value", num(v.cpu_percent) == null ? null : String(+v.cpu_percent));

    var mem = sysTile("mem_percent", "memory");
    setAttr(mem.root, "data-metric", "mem_percent");
    setText(mem.value, fmtPercent(num(v.mem_percent)));
    setText(mem.sub, fmtBytes(num(v.mem_used)) + " of " + fmtBytes(num(v.mem_total)) + " used");
    mem.sub.title = "available " + fmtBytes(num(v.mem_available));
    setAttr(mem.root, "data-value", num(v.mem_percent) == null ? null : String(+v.mem_percent));
    setAttr(mem.root, "data-used", num(v.mem_used) == null ? null : String(+v.mem_used));
    setAttr(mem.root, "data-total", num(v.mem_total) == null ? null : String(+v.mem_total));

    var swap = sysTile("swap_used", "swap");
    setAttr(swap.root, "data-metric", "swap_used");
    var swapTotal = num(v.swap_total);
    setText(swap.value, swapTotal ? fmtBytes(num(v.swap_used)) : "none");
    setText(swap.sub, swapTotal ? "of " + fmtBytes(swapTotal) + " (" + Math.round(100 * (num(v.swap_used) || 0) / swapTotal) + " %)" : "no swap space");
    setAttr(swap.root, "data-value", num(v.swap_used) == null ? null : String(+v.swap_used));

    [["disk_read_bps", "disk read"], ["disk_write_bps", "disk write"], ["net_rx_bps", "network in"], ["net_tx_bps", "network out"]]
      .forEach(function (pair) {
        var tile = sysTile(pair[0], pair[1]);
        var x = num(v[pair[0]]);
        setAttr(tile.root, "data-metric", pair[0]);
        setText(tile.value, fmtRate(x));
        setText(tile.sub, pair[0].indexOf("disk") === 0 ? "physical disks" : "all but loopback");
        setAttr(tile.root, "data-value", x == null ? null : String(x));
      });

    var shown = new Set();
    latest.gpus.forEach(function (g) {
      if (!g || typeof g !== "object" || num(g.index) == null) return;
      var key = "gpu-" + g.index;
      shown.add(key);
      var tile = sysTile(key, "GPU " + g.index);
      setAttr(tile.root, "data-metric", "gpu");
      setAttr(tile.root, "data-gpu", String(g.index));
      var util = num(g.utilization_percent);
      setText(tile.value, fmtPercent(util));
      setText(tile.sub, "memory " + fmtBytes(num(g.memory_used)) + " of " + fmtBytes(num(g.memory_total)));
      setText(tile.label, "GPU " + g.index + (g.name ? " \u00b7 " + g.name : ""));
      setAttr(tile.root, "data-value", util == null ? null : String(util));
      setAttr(tile.root, "data-memory-used", num(g.memory_used) == null ? null : String(+g.memory_used));
      var procs = Array.isArray(g.processes) ? g.processes.length : 0;
      tile.root.title = String(g.name || "GPU") + " · " + procs + " process" + (procs === 1 ? "" : "es");
    });
    sys.tiles.forEach(function (tile, key) {
      if (key.indexOf("gpu-") === 0 && !shown.has(key)) { tile.root.remove(); sys.tiles.delete(key); }
    });
  }

  // The values of one tile's sparkline over rows a..b.
  function sysColumn(key, a, b) {
    var out = [];
    if (key.indexOf("gpu-") === 0) {
      var index = +key.slice(4);
      for (var i = a; i < b; i++) {
        var g = sysGpu(sys.gpus[i], index);
        out.push(g ? num(g.utilization_percent) : null);
      }
      return out;
    }
    return sys.cols[key].slice(a, b);
  }

  function sysTop(key, a, b, values) {
    if (key === "cpu_percent" || key === "mem_percent" || key.indexOf("gpu-") === 0) return 100;
    var top = 0;
    if (key === "swap_used") {
      for (var i = a; i < b; i++) top = Math.max(top, sys.cols.swap_total[i] || 0);
    }
    values.forEach(function (v) { if (v != null && v > top) top = v; });
    return top > 0 ? top : 1;
  }

  // "x,y x,y ..." in the sparkline's box; at most SYS_SPARK_POINTS buckets, each drawn at
  // its highest value so a spike is never thinned away.
  function sysPoints(ts, values, lo, hi, top) {
    var span = Math.max(hi - lo, EPS), per = Math.max(1, Math.ceil(values.length / SYS_SPARK_POINTS));
    var pts = [];
    for (var i = 0; i < values.length; i += per) {
      var best = null, at = ts[i];
      for (var j = i; j < Math.min(values.length, i + per); j++) {
        if (values[j] != null && (best == null || values[j] > best)) { best = values[j]; at = ts[j]; }
      }
      if (best == null) continue;
      var x = (at - lo) / span * SYS_SPARK_W;
      var y = SYS_SPARK_H - 1 - Math.min(1, Math.max(0, best / top)) * (SYS_SPARK_H - 2);
      pts.push(x.toFixed(1) + "," + y.toFixed(1));
    }
    // one value known (a rate's first reading is not): a short dash, not nothing
    if (pts.length === 1) pts.push((Math.min(SYS_SPARK_W, x + 2)).toFixed(1) + "," + y.toFixed(1));
    return pts;
  }

  function renderSystem(range) {
    var has = sys.t.length > 0 && !!sys.latest;
    if (sysEl.hidden === has) sysEl.hidden = !has;
    if (!has) return;
    sysFill(sys.latest);
    var recording = state.mode === "recording";
    setText(sysWhenEl, (recording ? "last reading " : "as of ") + fmtWhen(sys.latest.t));
    var lo = viewRange ? viewRange[0] : range[0], hi = viewRange ? viewRange[1] : range[1];
    var sig = sys.version + "|" + lo + "|" + hi + "|" + sys.tiles.size;
    if (sig === sys.drawn) return;
    sys.drawn = sig;
    var a = lowerBound(sys.t, lo - EPS), b = upperBound(sys.t, hi + EPS);
    setAttr(sysEl, "data-points", String(b - a));
    var ts = sys.t.slice(a, b);
    sys.tiles.forEach(function (tile, key) {
      var values = sysColumn(key, a, b);
      var pts = sysPoints(ts, values, lo, hi, sysTop(key, a, b, values));
      setAttr(tile.line, "points", pts.join(" "));
      setAttr(tile.root, "data-points", String(pts.length));
    });
  }

  // ------------------------------------------------------------------ window selector

  var windowButtons = Array.prototype.slice.call(document.querySelectorAll("button[data-window]"));
  function selectWindow(key) {
    if (!(key in WINDOWS)) key = "600";
    state.windowKey = key;
    windowButtons.forEach(function (b) { b.setAttribute("aria-pressed", b.getAttribute("data-window") === key ? "true" : "false"); });
    state.zoom = null;
    document.getElementById("reset-zoom").hidden = true;
  }

  windowButtons.forEach(function (btn) {
    btn.addEventListener("click", function () {
      selectWindow(btn.getAttribute("data-window"));
      renderNow();
    });
  });
  document.getElementById("reset-zoom").addEventListener("click", function () { setZoom(null); });

  // ------------------------------------------------------------------ connection state

  var connEl = document.getElementById("conn-state");
  var connText = document.getElementById("conn-text");

  function setConn(s, text) {
    if (connEl.getAttribute("data-state") !== s) connEl.setAttribute("data-state", s);
    setText(connText, text);
  }

  // ------------------------------------------------------------------ messages

  function onHello(msg) {
    state.protocol = msg.protocol;
    setMode(msg.mode === "recording" ? "recording" : "live", msg.recording && typeof msg.recording === "object" ? msg.recording : null);
    if (Array.isArray(msg.fields) && msg.fields.length) state.fields = msg.fields.slice();
    // a server that reads no system figures (--no-system) sends none: the strip goes
    sys.enabled = Array.isArray(msg.system_fields) && msg.system_fields.length > 0;
    if (!sys.enabled) sysReset();
    if (+msg.interval > 0) state.interval = +msg.interval;
    if (+msg.history_capacity > 0) {
      state.capacity = +msg.history_capacity;
      state.cap = Math.min(POINT_CAP_MAX, Math.max(POINT_CAP, state.capacity));
    }
    if (typeof msg.version === "string") state.version = msg.version;
    if (+msg.server_time > 0) state.clockSkew = +msg.server_time - Date.now() / 1000;
    var seen = {};
    (msg.targets || []).forEach(function (t) { var r = upsertTarget(t); if (r) seen[r.key] = true; });
    // targets the server no longer knows (it restarted): keep their history, mark them
    state.targets.forEach(function (rec) {
      if (!seen[rec.key] && rec.card) rec.card.root.classList.add("stale");
      else if (rec.card) rec.card.root.classList.remove("stale");
    });
    state.lastSeq = null;
    helloSeen = true;
    backoffAttempt = 0;
    clearTimeout(connectedFallback);
    // the page reads "connected" once the backfill is in; don't wait forever for it
    connectedFallback = setTimeout(markConnected, 3000);
    protocolNote = msg.protocol === PROTOCOL ? "" : " (unknown protocol " + msg.protocol + ")";
    needRender();
  }

  function markConnected() {
    clearTimeout(connectedFallback);
    state.connected = true;
    setConn("connected", (state.mode === "recording" ? "recording" : "connected") + protocolNote);
    needRender();
  }

  // hello.mode / hello.recording: a recording opens on all of it, and the header names it
  function setMode(mode, recording) {
    var changed = mode !== state.mode;
    state.mode = mode;
    state.recording = recording;
    connEl.setAttribute("data-mode", mode);
    document.body.setAttribute("data-mode", mode);
    if (!state.modeSeen || changed) {
      state.modeSeen = true;
      selectWindow(mode === "recording" ? "all" : state.windowKey);
    }
    if (changed) state.targets.forEach(refreshCardStatic);
    updateRecordingInfo();
  }

  var recInfoEl = document.getElementById("rec-info");
  var recNameEl = document.getElementById("rec-name");
  var recSpanEl = document.getElementById("rec-span");

  function updateRecordingInfo() {
    var r = state.recording;
    var show = state.mode === "recording" && !!r;
    recInfoEl.hidden = !show;
    if (!show) { document.title = "memlens"; return; }
    var name = r.name ? String(r.name) : "recording " + r.id;
    setText(recNameEl, name);
    recNameEl.title = "recording #" + r.id;
    var started = +r.started, ended = r.ended == null ? null : +r.ended;
    var span = "";
    if (started > 0) {
      span = fmtDateTime(started) + " \u2192 ";
      if (ended != null && ended > 0) {
        span += (sameDay(new Date(started * 1000), new Date(ended * 1000)) ? fmtClock(ended) : fmtDateTime(ended)) +
          " \u00b7 " + fmtDuration(ended - started);
      } else {
        span += "not ended";
      }
      recSpanEl.title = new Date(started * 1000).toString() + (ended ? " \u2192 " + new Date(ended * 1000).toString() : "");
    }
    setText(recSpanEl, span);
    document.title = name + " \u00b7 memlens";
  }

  function seriesToList(seriesMap, onlyKey) {
    var list = [];
    Object.keys(seriesMap || {}).forEach(function (key) {
      if (onlyKey && key !== onlyKey) return;
      var s = seriesMap[key];
      if (!s || !Array.isArray(s.t)) return;
      var rec = targetFor(key);
      var t = s.t, rss = Array.isArray(s.rss) ? s.rss : [];
      var last = t.length - 1;
      if (last >= 0) {
        noteLatest(rec, t[last], {
          rss: pick(rss, last), threads: pick(s.threads, last), fds: pick(s.fds, last), cpu: pick(s.cpu, last),
        });
      }
      // sorted input is part of the contract; make sure anyway (cheap when already sorted)
      var sorted = true;
      for (var i = 1; i < t.length; i++) if (t[i] < t[i - 1]) { sorted = false; break; }
      var tt = t, vv = rss, idx = null;
      if (!sorted) {
        idx = t.map(function (_, i) { return i; }).sort(function (a, b) { return t[a] - t[b]; });
        tt = idx.map(function (i) { return t[i]; });
        vv = idx.map(function (i) { return pick(rss, i); });
      }
      var pyCols = {};
      PY_COLS.forEach(function (c) {
        var col = c === "rss" ? vv : Array.isArray(s[c]) ? s[c] : null;
        pyCols[c] = c === "rss" || !idx || !col ? col : idx.map(function (i) { return pick(col, i); });
      });
      pyOnSeries(rec, tt, pyCols);
      list.push({ key: key, t: tt, v: vv });
    });
    return list;
  }

  function onBackfill(msg) {
    mergeSeries(seriesToList(msg.series), true);
    if (typeof msg.seq === "number") state.lastSeq = msg.seq;
    noteBucketed(msg.series || {}, msg.bucketed && typeof msg.bucketed === "object" ? msg.bucketed : {});
    addAlerts(msg.alerts);   // after a reconnect, the same alerts again: kept once
    if (Array.isArray(msg.python)) msg.python.forEach(onPython);   // the latest answers; kept once
    sysOnSeries(msg.system);
    markConnected();
    renderNow();
    if (state.mode === "recording") fetchLastSamples();
  }

  // backfill.bucketed: per target, how many of its (oldest) points are M4 buckets
  function noteBucketed(series, bucketed) {
    clearDetail();
    state.backfills++;
    state.coarse = new Map();
    var total = 0;
    state.targets.forEach(function (rec) { rec.bucketed = 0; });
    Object.keys(bucketed).forEach(function (key) {
      var count = Math.floor(+bucketed[key]);
      var s = series[key];
      if (!(count > 0) || !s || !Array.isArray(s.t) || !s.t.length) return;
      count = Math.min(count, s.t.length);
      var rec = state.targets.get(key);
      if (rec) rec.bucketed = count;
      total += count;
      var lo = +s.t[0], hi = +s.t[count - 1];
      state.coarse.set(key, {
        lo: lo, hi: hi, count: count,
        gap: 8 * Math.max(hi - lo, 0) / count,   // spacing of buckets, generously: not a gap
      });
    });
    document.body.dataset.bucketedPoints = String(total);
  }

  // A recording's backfill is all buckets, whose fields but RSS are unknown: the last real
  // sample of each target gives its threads, fds and CPU.
  function fetchLastSamples() {
    state.targets.forEach(function (rec) {
      if (!(rec.bucketed > 0)) return;
      getJSON("api/samples?target=" + encodeURIComponent(rec.key) + "&limit=1").then(function (body) {
        if (!body || !body.series) return;
        var map = {};
        map[rec.key] = body.series;
        seriesToList(map, rec.key);   // notes the latest values; the points are in the store already
        needRender();
      }).catch(function () {});
    });
  }

  function onTick(msg) {
    state.ticks++;
    document.body.dataset.ticks = String(state.ticks);
    var seq = msg.seq, t = +msg.t;
    if (typeof seq === "number") {
      if (state.lastSeq != null && seq > state.lastSeq + 1) requestGapFill();
      if (state.lastSeq == null || seq > state.lastSeq) state.lastSeq = seq;
    }
    if (!isFinite(t)) return;
    var samples = msg.samples || {};
    var iR = fieldIndex("rss"), iT = fieldIndex("threads"), iF = fieldIndex("fds"), iC = fieldIndex("cpu");
    var iPy = PY_FIELDS.map(fieldIndex);
    var values = {};
    Object.keys(samples).forEach(function (key) {
      var row = samples[key];
      if (!Array.isArray(row)) return;
      var rec = targetFor(key);
      var rss = pick(row, iR);
      values[key] = rss;
      noteLatest(rec, t, { rss: rss, threads: pick(row, iT), fds: pick(row, iF), cpu: pick(row, iC) });
      var pv = { rss: rss };
      PY_FIELDS.forEach(function (f, i) { pv[f] = pick(row, iPy[i]); });
      pyOnSample(rec, t, pv);
    });
    addRow(t, values);
    if (sys.enabled && msg.system && typeof msg.system === "object") sysOnReading(t, msg.system, msg.system.gpus);
    needRender();
  }

  function onTarget(msg) {
    upsertTarget(msg.target);
    needRender();
  }

  function onExit(msg) {
    if (typeof msg.key !== "string") return;
    var rec = targetFor(msg.key);
    rec.state = "exited";
    if ("time" in msg) rec.exit_time = msg.time;
    if ("exit_code" in msg) rec.exit_code = msg.exit_code;
    if ("reason" in msg) rec.exit_reason = msg.reason;
    refreshCardStatic(rec);
    needRender();
  }

  function onMessage(ev) {
    if (typeof ev.data !== "string") return;
    var msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }
    if (!msg || typeof msg !== "object") return;
    switch (msg.type) {
      case "hello": onHello(msg); break;
      case "backfill": onBackfill(msg); break;
      case "tick": onTick(msg); break;
      case "target": onTarget(msg); break;
      case "exit": onExit(msg); break;
      case "leak":
      case "threshold": addAlerts([msg]); break;
      case "python": onPython(msg); break;
      default: break;   // unknown message types are ignored (protocol rule)
    }
  }

  // ------------------------------------------------------------------ HTTP: gap fill, target refresh

  function getJSON(path, signal) {
    var opts = { cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } };
    if (signal) opts.signal = signal;
    return fetch(apiUrl(path), opts)
      .then(function (r) {
        if (!r.ok) { var e = new Error("HTTP " + r.status); e.status = r.status; throw e; }
        return r.json();
      });
  }

  function applyTargets(body) {
    if (!body || !Array.isArray(body.targets)) return;
    body.targets.forEach(function (t) { upsertTarget(t); });
    needRender();
  }

  var targetsTimer = 0;
  function refreshTargetsSoon() {
    if (targetsTimer) return;
    targetsTimer = setTimeout(function () {
      targetsTimer = 0;
      getJSON("api/targets").then(applyTargets).catch(function () {});
    }, 250);
  }

  var gapPending = null;   // key -> since (smallest); null when nothing queued
  var gapRunning = false;

  // Called before the tick that revealed the gap is stored: remember, per target, the
  // newest time we hold, and fetch everything after it.
  function requestGapFill() {
    if (!gapPending) gapPending = {};
    state.targets.forEach(function (rec) {
      var since = lastTimeOf(rec.key);
      var prev = gapPending[rec.key];
      if (prev === undefined) gapPending[rec.key] = since;
      else if (prev !== null && (since === null || since < prev)) gapPending[rec.key] = since;
    });
    if (!gapRunning) runGapFill();
  }

  function runGapFill() {
    if (!gapPending) { gapRunning = false; return; }
    gapRunning = true;
    var job = gapPending;
    gapPending = null;
    getJSON("api/targets").then(applyTargets).catch(function () {})
      .then(function () {
        // targets learnt from /api/targets that we held nothing for: fetch all they have
        state.targets.forEach(function (rec) { if (!(rec.key in job) && lastTimeOf(rec.key) === null) job[rec.key] = null; });
        return Promise.all(Object.keys(job).map(function (key) {
          var since = job[key];
          var path = "api/samples?target=" + encodeURIComponent(key) + (since != null ? "&since=" + encodeURIComponent(String(since)) : "");
          return getJSON(path).then(function (body) {
            if (!body || !body.series) return null;
            var map = {};
            map[key] = body.series;
            return seriesToList(map, key);
          }).catch(function () { return null; });
        }));
      })
      .then(function (lists) {
        var all = [];
        (lists || []).forEach(function (l) { if (l) all = all.concat(l); });
        if (all.length) mergeSeries(all, true);
        needRender();
      })
      .catch(function () {})
      .then(function () { runGapFill(); });
  }

  // ------------------------------------------------------------------ socket with back-off

  var ws = null;
  var helloSeen = false;
  var everConnected = false;
  var backoffAttempt = 0;
  var reconnectTimer = 0, countdownTimer = 0, connectedFallback = 0, pingTimer = 0;
  var authHint = "", authProbed = false, protocolNote = "";

  function connect() {
    clearTimeout(reconnectTimer);
    clearInterval(countdownTimer);
    helloSeen = false;
    if (everConnected || backoffAttempt > 0) setConn("reconnecting", "reconnecting…" + authHint);
    else setConn("connecting", "connecting…");
    var sock;
    try { sock = new WebSocket(wsUrl()); } catch (e) { scheduleReconnect(); return; }
    ws = sock;
    sock.onopen = function () {
      if (ws !== sock) return;
      clearInterval(pingTimer);
      pingTimer = setInterval(function () {
        if (sock.readyState === 1) { try { sock.send("ping"); } catch (e) { /* closing */ } }
      }, 25000);
    };
    sock.onmessage = function (ev) { if (ws === sock) onMessage(ev); };
    sock.onerror = function () { /* a close event follows */ };
    sock.onclose = function () {
      if (ws !== sock) return;
      ws = null;
      clearInterval(pingTimer);
      clearTimeout(connectedFallback);
      if (helloSeen) everConnected = true;
      state.connected = false;
      if (!helloSeen && !everConnected && !authProbed) { authProbed = true; probeAuth(); }
      scheduleReconnect();
      needRender();
    };
  }

  function scheduleReconnect() {
    var base = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, backoffAttempt));
    var delay = Math.round(base * (0.75 + Math.random() * 0.5));
    delay = Math.min(delay, BACKOFF_MAX);
    backoffAttempt++;
    var due = Date.now() + delay;
    var tickDown = function () {
      var left = Math.max(0, due - Date.now());
      setConn("reconnecting", "reconnecting in " + (left / 1000).toFixed(1) + " s" + authHint);
    };
    tickDown();
    clearInterval(countdownTimer);
    countdownTimer = setInterval(tickDown, 100);
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  }

  // a socket that closes before hello may be an auth failure: ask the API why
  function probeAuth() {
    getJSON("api/targets").then(function () { authHint = ""; }).catch(function (e) {
      authHint = e && (e.status === 401 || e.status === 403) ? " · access denied (" + e.status + "): open the URL memlens printed, with its ?token=" : "";
    });
  }

  function reconnectNow() {
    if (ws || !reconnectTimer) return;
    connect();
  }

  // come back quickly when the tab returns or the network does
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { reconnectNow(); needRender(); }
  });
  window.addEventListener("online", reconnectNow);

  // ------------------------------------------------------------------ theme changes & resize

  function onThemeChange() {
    theme = readTheme();
    if (chart) {
      chart.destroy();
      chart = null;
      chartKeys = [];
    }
    pyDestroyCharts();
    state.targets.forEach(refreshCardStatic);
    chipsSig = "";
    renderNow();
  }

  if (darkQuery) {
    if (darkQuery.addEventListener) darkQuery.addEventListener("change", onThemeChange);
    else if (darkQuery.addListener) darkQuery.addListener(onThemeChange);
  }

  if (window.ResizeObserver) new ResizeObserver(onResize).observe(chartEl.parentElement);
  window.addEventListener("resize", onResize);

  // ------------------------------------------------------------------ start

  document.body.dataset.ticks = "0";
  document.body.dataset.bucketedPoints = "0";
  document.body.dataset.detailRequests = "0";
  document.body.dataset.alerts = "0";
  makeChart();
  render();
  connect();

  // small read-only handle for debugging from the console
  window.memlens = {
    state: state,
    store: store,
    detail: detail,
    alerts: alerts,
    python: py,
    system: sys,
    chart: function () { return chart; },
  };
})();
