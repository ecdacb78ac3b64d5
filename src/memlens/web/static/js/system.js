// The machine as a whole (docs/protocol.md, "System fields"): hello.system_fields says
// the server reads it, the backfill's `system` holds its recent readings (a recording's,
// thinned), each tick's `system` the latest one. A tile per figure shows the newest value
// as text, and a sparkline of the readings in the chart's visible range; the strip stays
// hidden while the server sends none (--no-system, a recording made without them).

import { EPS, SYS_FIELDS, TRIM_SLACK } from "./constants.js";
import { fmtBytes, fmtPercent, fmtRate, fmtWhen } from "./format.js";
import { state, sys, sysNew, ui } from "./state.js";
import { lowerBound, upperBound } from "./store.js";
import { num, pick, setAttr, setText } from "./util.js";

var SYS_SPARK_W = 100, SYS_SPARK_H = 24, SYS_SPARK_POINTS = 120;

var sysEl = document.getElementById("system-strip");
var sysTilesEl = document.getElementById("system-tiles");
var sysWhenEl = document.getElementById("system-when");
var sysTpl = document.getElementById("sys-tpl");

export function sysReset() {
  var fresh = sysNew();
  Object.keys(fresh).forEach(function (k) { sys[k] = fresh[k]; });
  sys.drawn = "";
}

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
export function sysOnReading(t, vals, gpus) {
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
export function sysOnSeries(series) {
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

export function renderSystem(range) {
  var has = sys.t.length > 0 && !!sys.latest;
  if (sysEl.hidden === has) sysEl.hidden = !has;
  if (!has) return;
  sysFill(sys.latest);
  var recording = state.mode === "recording";
  setText(sysWhenEl, (recording ? "last reading " : "as of ") + fmtWhen(sys.latest.t));
  var lo = ui.range ? ui.range[0] : range[0], hi = ui.range ? ui.range[1] : range[1];
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
