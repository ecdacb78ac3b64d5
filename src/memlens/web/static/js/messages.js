// The socket's messages (docs/protocol.md) applied to the page.

import { addAlerts } from "./alerts.js";
import { addMarks } from "./chartmarks.js";
import { refreshCardStatic } from "./cards.js";
import { POINT_CAP, POINT_CAP_MAX, PROTOCOL, PY_COLS, PY_FIELDS } from "./constants.js";
import { clearDetail } from "./detail.js";
import { updateRecordingInfo } from "./header.js";
import { getJSON, requestGapFill } from "./http.js";
import { onPython, pyOnSample, pyOnSeries } from "./python/data.js";
import { needRender, renderNow } from "./render.js";
import { connEl, setConn } from "./socket.js";
import { conn, grouping, state, sys } from "./state.js";
import { addRow, mergeSeries } from "./store.js";
import { sysOnReading, sysOnSeries, sysReset } from "./system.js";
import { fieldIndex, noteLatest, targetFor, upsertTarget } from "./targets.js";
import { pick } from "./util.js";
import { onMaps, onMapsBackfill } from "./where/data.js";
import { selectWindow } from "./zoom.js";

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
  grouping.groupBy = typeof msg.group_by === "string" ? msg.group_by : null;   // --group-by
  if (+msg.server_time > 0) state.clockSkew = +msg.server_time - Date.now() / 1000;
  var seen = {};
  (msg.targets || []).forEach(function (t) { var r = upsertTarget(t); if (r) seen[r.key] = true; });
  // targets the server no longer knows (it restarted): keep their history, mark them
  state.targets.forEach(function (rec) {
    if (!seen[rec.key] && rec.card) rec.card.root.classList.add("stale");
    else if (rec.card) rec.card.root.classList.remove("stale");
  });
  state.lastSeq = null;
  conn.helloSeen = true;
  conn.backoffAttempt = 0;
  clearTimeout(conn.connectedFallback);
  // the page reads "connected" once the backfill is in; don't wait forever for it
  conn.connectedFallback = setTimeout(markConnected, 3000);
  conn.protocolNote = msg.protocol === PROTOCOL ? "" : " (unknown protocol " + msg.protocol + ")";
  needRender();
}

function markConnected() {
  clearTimeout(conn.connectedFallback);
  state.connected = true;
  setConn("connected", (state.mode === "recording" ? "recording" : "connected") + conn.protocolNote);
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

export function seriesToList(seriesMap, onlyKey) {
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
    var pss = Array.isArray(s.pss) ? s.pss : null;
    var tt = t, vv = rss, pp = pss, idx = null;
    if (!sorted) {
      idx = t.map(function (_, i) { return i; }).sort(function (a, b) { return t[a] - t[b]; });
      tt = idx.map(function (i) { return t[i]; });
      vv = idx.map(function (i) { return pick(rss, i); });
      pp = pss && idx.map(function (i) { return pick(pss, i); });
    }
    var pyCols = {};
    PY_COLS.forEach(function (c) {
      var col = c === "rss" ? vv : Array.isArray(s[c]) ? s[c] : null;
      pyCols[c] = c === "rss" || !idx || !col ? col : idx.map(function (i) { return pick(col, i); });
    });
    pyOnSeries(rec, tt, pyCols);
    list.push({ key: key, t: tt, v: vv, p: pp });
  });
  return list;
}

function onBackfill(msg) {
  mergeSeries(seriesToList(msg.series), true);
  if (typeof msg.seq === "number") state.lastSeq = msg.seq;
  noteBucketed(msg.series || {}, msg.bucketed && typeof msg.bucketed === "object" ? msg.bucketed : {});
  addAlerts(msg.alerts);   // after a reconnect, the same alerts again: kept once
  addMarks(msg.marks);     // likewise
  if (Array.isArray(msg.python)) msg.python.forEach(onPython);   // the latest answers; kept once
  sysOnSeries(msg.system);
  onMapsBackfill(msg.maps);
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
  var iR = fieldIndex("rss"), iP = fieldIndex("pss"), iT = fieldIndex("threads"), iF = fieldIndex("fds"), iC = fieldIndex("cpu");
  var iPy = PY_FIELDS.map(fieldIndex);
  var values = {}, pss = {};
  Object.keys(samples).forEach(function (key) {
    var row = samples[key];
    if (!Array.isArray(row)) return;
    var rec = targetFor(key);
    var rss = pick(row, iR);
    values[key] = rss;
    if (iP >= 0) pss[key] = pick(row, iP);
    noteLatest(rec, t, { rss: rss, threads: pick(row, iT), fds: pick(row, iF), cpu: pick(row, iC) });
    var pv = { rss: rss };
    PY_FIELDS.forEach(function (f, i) { pv[f] = pick(row, iPy[i]); });
    pyOnSample(rec, t, pv);
  });
  addRow(t, values, pss);
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

export function onMessage(ev) {
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
    case "group_leak":
    case "threshold": addAlerts([msg]); break;
    case "mark": addMarks([msg]); break;
    case "python": onPython(msg); break;
    case "maps": onMaps(msg); break;
    default: break;   // unknown message types are ignored (protocol rule)
  }
}
