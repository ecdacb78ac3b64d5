// The chart in groups: past a few processes (groups.js, wantGroups) the RSS chart draws,
// per group, its honest sum (on its own axis, right: a sum of 64 processes would flatten
// every per-process line), its mean per process (dashed), its top members by RSS or by
// growth as their own lines, and the others as one band from their lowest to their
// highest RSS. Pinned members (a click on a line or in the legend) stay drawn. Processes
// alone in their group are drawn as themselves, a process tree's total on the sum axis.

import { FONT_STACK } from "./constants.js";
import { fmtBytes, fmtBytesAxis, BYTE_INCRS } from "./format.js";
import {
  collectGroups, combineMeasures, deriveGroup, honestCol, measureName, rankValues, topAndOthers,
} from "./groups.js";
import { grouping, state, store, ui, view } from "./state.js";
import { repaintTable } from "./table.js";
import { togglePin as toggleTablePin } from "./tabledata.js";
import { labelOf } from "./targets.js";
import { hexToRgba } from "./theme.js";
import { needRender } from "./render.js";

var ID = "\u0001";   // derived series' ids: never a target key ("1234-5678", "sum-1234")

// uPlot options of the grouped chart: its own legend (grouplegend.js), a sum axis.
export function groupedOptions(opts, axisCommon, yRange) {
  opts.legend = { show: false };
  opts.scales.sum = { range: yRange };
  opts.axes.push(Object.assign({}, axisCommon, {
    scale: "sum", side: 1, grid: { show: false }, values: fmtBytesAxis, incrs: BYTE_INCRS,
    size: 78, space: 36, label: "group sums", labelSize: 18, labelFont: "12px " + FONT_STACK,
  }));
  Object.assign(opts.axes[1], { label: "per process \u00b7 RSS", labelSize: 18, labelFont: "12px " + FONT_STACK });
  opts.hooks.setSeries = [function (u, sidx, o) { if (o && o.focus != null) grouping.focus = sidx; }];
  opts.hooks.draw.push(drawSumLabels);
}

// Each sum named at its newest point, with its measure ("grower sum · PSS"): two axes
// share the plot, and a sum must not be read as one process.
function drawSumLabels(u) {
  var b = u.bbox, px = uPlot.pxRatio || 1, ctx = u.ctx, labels = [];
  grouping.specs.forEach(function (s, j) {
    if (s.kind !== "sum" && s.kind !== "total") return;
    var ys = u.data[j + 1];
    if (!ys || u.series[j + 1].show === false) return;
    var i = ys.length - 1;
    while (i >= 0 && ys[i] == null) i--;
    if (i < 0) return;
    // a group whose members have all exited: its line ends where they did, and a name
    // at the right edge would read as its sum now
    if (s.kind === "sum" && !groupRunning(s.group)) return;
    var y = u.valToPos(ys[i], "sum", true);
    if (!(y >= b.top && y <= b.top + b.height)) return;
    var m = s.kind === "sum" ? groupMeasure(s.group) : s.measure;
    var name = s.kind === "sum" ? s.group + " sum" : "total";
    labels.push({ y: y, text: visible(name) + (m ? " \u00b7 " + measureName(m) : ""), color: s.color });
  });
  if (!labels.length) return;
  labels.sort(function (a, c) { return a.y - c.y; });
  var gap = 15 * px, prev = -Infinity;
  ctx.save();
  ctx.font = "600 " + Math.round(12 * px) + "px " + FONT_STACK;
  ctx.textAlign = "right";
  ctx.textBaseline = "bottom";
  labels.forEach(function (l) {
    var y = Math.max(l.y - 3 * px, prev + gap, b.top + gap);
    prev = y;
    var x = b.left + b.width - 4 * px, w = ctx.measureText(l.text).width;
    ctx.fillStyle = hexToRgba(ui.theme.dark ? "#1a2029" : "#ffffff", 0.8);
    ctx.fillRect(x - w - 3 * px, y - 13 * px, w + 6 * px, 14 * px);
    ctx.fillStyle = l.color;
    ctx.fillText(l.text, x, y);
  });
  ctx.restore();
}

function groupRunning(label) {
  var g = grouping.groups.find(function (x) { return x.label === label; });
  return !g || g.keys.some(function (k) {
    var rec = state.targets.get(k);
    return !rec || rec.state !== "exited";
  });
}

function groupMeasure(label) {
  var g = grouping.groups.find(function (x) { return x.label === label; });
  return g ? g.measure : null;
}

function visible(text) { return String(text).replace(/[\u0000-\u001f\u007f]/g, "\u00b7"); }

// Pins and unpins a member: drawn whatever its rank while pinned. The pins are the page's:
// the header's chips, the picker and the table show them too.
export function togglePin(key) {
  toggleTablePin(key);
  repaintTable();
  needRender();
}

// A click on a member's line (the line under the pointer, uPlot's focus) pins it.
export function wirePinClicks(u) {
  var down = null;
  u.over.addEventListener("mousedown", function (e) { down = [e.clientX, e.clientY]; });
  u.over.addEventListener("click", function (e) {
    var moved = down && Math.abs(e.clientX - down[0]) + Math.abs(e.clientY - down[1]) > 3;
    down = null;
    if (moved || grouping.focus == null) return;
    var spec = grouping.specs[grouping.focus - 1];
    if (spec && spec.key && (spec.kind === "member" || spec.kind === "single")) togglePin(spec.key);
  });
}

function specOpts(spec) {
  var o = {
    label: spec.label, stroke: spec.color, width: 1.5, spanGaps: false, scale: "y",
    points: { show: false }, value: function (u, v) { return fmtBytes(v); },
  };
  if (spec.kind === "sum" || spec.kind === "total") { o.scale = "sum"; o.width = 2.5; }
  if (spec.kind === "total") o.dash = [2, 3];
  if (spec.kind === "mean") { o.dash = [7, 4]; o.width = 1.75; }
  if (spec.kind === "hi" || spec.kind === "lo") { o.stroke = hexToRgba(spec.color, 0.4); o.width = 1; }
  if (spec.kind === "member" && view.pinned.has(spec.key)) o.width = 2;
  return o;
}

// The series to draw now, and the columns of those that are not a target's own RSS.
function plan(dv) {
  var palette = ui.theme.palette, P = palette.length;
  var g = collectGroups();
  var specs = [], cols = new Map(), groups = [], measures = [];
  var rows = dv.times.length;
  function rss(k) { return dv.src(k, "rss"); }
  function pss(k) { return dv.src(k, "pss"); }
  // a group's sum, mean and band: of the stored rows (a view with finer points of a few
  // members has them as storedSrc; across() draws those columns over the finer rows)
  var stored = dv.storedSrc || dv.src;
  function storedRss(k) { return stored(k, "rss"); }
  function storedPss(k) { return stored(k, "pss"); }
  // members' colours: those no group (nor total) has, while the palette has some left
  var reserved = g.groups.length + g.totals.length, next = 0;
  var free = palette.slice(Math.min(reserved, P - 3));
  function memberSpec(key, group, pinned) {
    var rec = state.targets.get(key);
    specs.push({
      id: key, kind: group ? "member" : "single", group: group, key: key, pinned: pinned,
      color: free[next++ % free.length], label: rec ? labelOf(rec) : key,
    });
  }
  g.totals.forEach(function (key, i) {
    var h = honestCol(rss(key), pss(key), rows);
    var rec = state.targets.get(key);
    var color = palette[(g.groups.length + i) % P];
    specs.push({ id: ID + "total" + ID + key, kind: "total", key: key, color: color, label: rec ? labelOf(rec) : key, measure: h.measure });
    cols.set(ID + "total" + ID + key, h.col);
    measures.push(h.measure);
  });
  g.groups.forEach(function (grp, gi) {
    var color = palette[gi % P];
    var ranks = rankValues(grp.keys, grouping.by, rss, dv.r0, dv.r1);
    var split = topAndOthers(ranks, grp.keys, grouping.top);
    var pinned = split.others.filter(function (k) { return view.pinned.has(k); });
    var rest = split.others.filter(function (k) { return !view.pinned.has(k); });
    var d = deriveGroup(grp.keys, rest, storedRss, storedPss, rows, rowCache(grp, split.top, pinned, dv));
    if (dv.only) [d.sum, d.mean, d.hi, d.lo].forEach(function (c) { across(c, dv.only, dv.times); });
    var base = ID + grp.label + ID;
    var info = {
      label: grp.label, keys: grp.keys, top: split.top, pinned: pinned, others: rest, ranks: ranks,
      measure: d.measure, count: d.count, color: color,
      ids: { sum: base + "sum", mean: base + "mean", hi: base + "hi", lo: base + "lo" },
    };
    groups.push(info);
    measures.push(d.measure);
    specs.push({ id: info.ids.sum, kind: "sum", group: grp.label, color: color, label: grp.label + " · sum" });
    cols.set(info.ids.sum, d.sum);
    specs.push({ id: info.ids.mean, kind: "mean", group: grp.label, color: color, label: grp.label + " · mean" });
    cols.set(info.ids.mean, d.mean);
    if (rest.length) {
      specs.push({ id: info.ids.hi, kind: "hi", group: grp.label, color: color, label: grp.label + " · others max" });
      specs.push({ id: info.ids.lo, kind: "lo", group: grp.label, color: color, label: grp.label + " · others min" });
      cols.set(info.ids.hi, d.hi);
      cols.set(info.ids.lo, d.lo);
    }
    split.top.forEach(function (k) { memberSpec(k, grp.label, view.pinned.has(k)); });
    pinned.forEach(function (k) { memberSpec(k, grp.label, true); });
  });
  g.singles.forEach(function (k) { memberSpec(k, null, view.pinned.has(k)); });
  grouping.groups = groups;
  grouping.measure = combineMeasures(measures);
  return { specs: specs, cols: cols };
}

// A group's figures per stored row (time -> figures), for deriveGroup: a live tick adds a
// row and changes no older one, so only the new rows are summed over the members (1,000 of
// them in a large group). Forgotten when the members, the others or the stored rows change.
var rowCaches = new Map();
function rowCache(grp, top, pinned, dv) {
  if (!dv.stored) return null;
  var sig = store.merges + "|" + grp.keys.length + "|" + top.join(",") + "|" + pinned.join(",");
  var c = rowCaches.get(grp.label);
  if (!c || c.sig !== sig) { c = { sig: sig, rows: new Map() }; rowCaches.set(grp.label, c); }
  // rows trimmed from the store's front: dropped once there are many
  if (c.rows.size > 2 * dv.times.length + 64) {
    var keep = new Set(dv.times), rows = new Map();
    c.rows.forEach(function (v, t) { if (keep.has(t)) rows.set(t, v); });
    c.rows = rows;
  }
  return { times: dv.times, rows: c.rows };
}

// A group's column across the rows only a drawn member's finer points have (only[j]): there
// the other members have no value, so the sum would count a few of them. Drawn as the line
// between the stored rows either side, as it is without those finer points.
function across(col, only, times) {
  var prev = -1, next = -1;
  for (var j = 0; j < col.length; j++) {
    if (!only[j]) { prev = col[j] != null ? j : -1; continue; }
    if (next < j) { next = j + 1; while (next < col.length && only[next]) next++; }
    if (prev < 0 || next >= col.length || col[next] == null) { col[j] = null; continue; }
    var f = (times[j] - times[prev]) / (times[next] - times[prev] || 1);
    col[j] = col[prev] + (col[next] - col[prev]) * f;
  }
}

// Makes the chart's series those of the plan (only when they changed: the same series
// with new values are only new data).
function sync(specs) {
  var u = ui.chart;
  var sig = specs.map(function (s) { return s.id + "|" + s.color + "|" + (s.pinned ? 1 : 0); }).join(";");
  if (sig === grouping.sig) return;
  grouping.sig = sig;
  u.delBand(null);
  for (var i = u.series.length - 1; i >= 1; i--) u.delSeries(i);
  specs.forEach(function (s, j) { u.addSeries(specOpts(s), j + 1); });
  specs.forEach(function (s, j) {
    if (s.kind !== "hi") return;
    // the band between the others' highest (this series) and lowest (the next one)
    u.addBand({ series: [j + 1, j + 2], fill: hexToRgba(s.color, ui.theme.dark ? 0.16 : 0.12) });
  });
  grouping.specs = specs;
  ui.chartKeys = specs.map(function (s) { return s.id; });
  grouping.focus = null;
}

// The grouped chart's data for a view: [times, col per series].
export function groupedData(dv) {
  var p = plan(dv);
  sync(p.specs);
  var label = sumAxisLabel();
  if (ui.chart.axes[2] && ui.chart.axes[2].label !== label) ui.chart.axes[2].label = label;
  var data = [dv.times];
  var empty = null;
  p.specs.forEach(function (s) {
    var col = p.cols.get(s.id) || dv.col(s.key, "rss");
    if (!col) col = empty || (empty = new Array(dv.times.length).fill(null));
    data.push(col);
  });
  return data;
}

// What the sum axis says: "group sums · PSS".
export function sumAxisLabel() {
  var m = measureName(grouping.measure);
  return "group sums" + (m ? " \u00b7 " + m : "");
}

export function resetGrouped() {
  rowCaches.clear();
  grouping.sig = "";
  grouping.specs = [];
  grouping.focus = null;
}
