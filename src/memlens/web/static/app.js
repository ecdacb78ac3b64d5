/* memlens dashboard: live RSS chart fed by the /ws stream (see docs/protocol.md). */
(function () {
  "use strict";

  // ------------------------------------------------------------------ constants

  var PROTOCOL = 1;
  var DEFAULT_FIELDS = ["rss", "vms", "shared", "swap", "threads", "fds", "cpu", "uss", "pss"];
  var POINT_CAP = 200000;          // stored points per target, at least
  var POINT_CAP_MAX = 1000000;     // never more, whatever history_capacity says
  var TRIM_SLACK = 2000;           // trim in batches, not on every tick
  var EPS = 1e-3;                  // two sample times closer than this are the same time
  var BACKOFF_MIN = 500, BACKOFF_MAX = 10000;
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

  var store = { times: [], cols: new Map(), order: [] };

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
    ["kind", "pid", "start_time", "name", "cmdline", "parent", "members", "state", "exit_time", "exit_code", "exit_reason"]
      .forEach(function (f) { if (f in t) rec[f] = t[f]; });
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
  function refineGaps(u, sidx, i0, i1) {
    var xs = u.data[0], ys = u.data[sidx], out = [];
    if (!xs || !ys) return out;
    var limit = Math.max(state.interval * 3, 2);
    var prev = -1;
    for (var i = i0; i <= i1; i++) {
      if (ys[i] == null) continue;
      if (prev >= 0 && xs[i] - xs[prev] > limit) {
        var a = Math.round(u.valToPos(xs[prev], "x", true));
        var b = Math.round(u.valToPos(xs[i], "x", true));
        if (b > a) out.push([a, b]);
      }
      prev = i;
    }
    return out;
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
      },
    };
    chart = new uPlot(opts, [[]], chartEl);
    chartKeys = [];
    store.order.forEach(function (k) { addChartSeries(k); });
    chart.over.addEventListener("dblclick", function () { setZoom(null); });
  }

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
    });
  }

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
    var times = store.times, n = times.length;
    var range = currentRange();
    var i0 = lowerBound(times, range[0] - EPS), i1 = upperBound(times, range[1] + EPS);
    var lo = range[0], hi = range[1];
    if (hi - lo < 1) { lo = hi - Math.max(state.interval * 10, 10); }
    viewRange = [lo, hi];

    // one point either side of the range, so lines run to the plot's edges (clipped there)
    var d0 = Math.max(0, i0 - 1), d1 = Math.min(n, i1 + 1);
    var data;
    if (d0 === 0 && d1 === n) {
      data = [times];
      chartKeys.forEach(function (k) { data.push(store.cols.get(k)); });
    } else {
      data = [times.slice(d0, d1)];
      chartKeys.forEach(function (k) { data.push(store.cols.get(k).slice(d0, d1)); });
    }
    chart.setData(data);

    document.getElementById("chart-empty").hidden = n > 0;
    updateCards(i0, i1);
    updateChrome(range, i1 - i0);
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
    setText(c.badge, exited ? (rec.exit_reason === "pid-reused" ? "ended" : "exited") : "running");
    setAttr(c.badge, "data-state", exited ? "exited" : "running");
    setText(c.currentLabel, exited ? "last" : "current");
    c.note.hidden = !exited;
    if (exited) setText(c.note, exitNote(rec));
    relabelSeries(rec.key);
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

  function updateCards(i0, i1) {
    state.targets.forEach(function (rec) {
      var c = rec.card;
      if (!c) return;
      var col = store.cols.get(rec.key);
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
      var current = rec.latest.rss;
      if (current == null) { var lt = lastValue(col); current = lt; }
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

  function updateChrome(range, plotted) {
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
      sub = (state.zoom ? "zoomed: " : "") + fmtWhen(range[0]) + " – " + fmtWhen(range[1]) +
        " (" + fmtDuration(span) + ", " + plotted + " samples)";
    }
    setText(chartSub, sub);

    var foot = "memlens" + (state.version ? " " + state.version : "");
    if (state.protocol != null) foot += " · protocol " + state.protocol;
    foot += " · sampling every " + fmtInterval(state.interval) + " · " + state.ticks + " ticks";
    setText(footInfo, foot);
  }

  // ------------------------------------------------------------------ window selector

  var windowButtons = Array.prototype.slice.call(document.querySelectorAll("button[data-window]"));
  windowButtons.forEach(function (btn) {
    btn.addEventListener("click", function () {
      state.windowKey = btn.getAttribute("data-window");
      windowButtons.forEach(function (b) { b.setAttribute("aria-pressed", b === btn ? "true" : "false"); });
      state.zoom = null;
      document.getElementById("reset-zoom").hidden = true;
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
    if (Array.isArray(msg.fields) && msg.fields.length) state.fields = msg.fields.slice();
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
    setConn("connected", "connected" + protocolNote);
    needRender();
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
      var tt = t, vv = rss;
      if (!sorted) {
        var idx = t.map(function (_, i) { return i; }).sort(function (a, b) { return t[a] - t[b]; });
        tt = idx.map(function (i) { return t[i]; });
        vv = idx.map(function (i) { return pick(rss, i); });
      }
      list.push({ key: key, t: tt, v: vv });
    });
    return list;
  }

  function onBackfill(msg) {
    mergeSeries(seriesToList(msg.series), true);
    if (typeof msg.seq === "number") state.lastSeq = msg.seq;
    markConnected();
    renderNow();
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
    var values = {};
    Object.keys(samples).forEach(function (key) {
      var row = samples[key];
      if (!Array.isArray(row)) return;
      var rec = targetFor(key);
      var rss = pick(row, iR);
      values[key] = rss;
      noteLatest(rec, t, { rss: rss, threads: pick(row, iT), fds: pick(row, iF), cpu: pick(row, iC) });
    });
    addRow(t, values);
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
      default: break;   // unknown message types are ignored (protocol rule)
    }
  }

  // ------------------------------------------------------------------ HTTP: gap fill, target refresh

  function getJSON(path) {
    return fetch(apiUrl(path), { cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } })
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
  makeChart();
  render();
  connect();

  // small read-only handle for debugging from the console
  window.memlens = {
    state: state,
    store: store,
    chart: function () { return chart; },
  };
})();
