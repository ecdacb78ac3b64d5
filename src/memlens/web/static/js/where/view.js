// The "where" panel: a stacked area of resident memory by category over time for one
// target, the sentence on its newest reading, and the mappings that grew most since a
// moment (the first reading, a while ago, or a moment clicked on the chart). Every text
// from the process (a mapping's path) is set with textContent, never parsed as markup.

import { fmtBytes, fmtClock, fmtSignedBytes } from "../format.js";
import { state } from "../state.js";
import { labelOf } from "../targets.js";
import { setAttr, setText } from "../util.js";
import { CATEGORIES, baseline, grewMost, onWhereChange, rssOf, sentence, where } from "./data.js";

var W = 800, H = 200;    // the chart's viewBox; it stretches to the panel's width
var ROWS = 10;           // mappings in the table

var el = {
  panel: document.getElementById("where-panel"),
  chart: document.getElementById("where-chart"),
  legend: document.getElementById("where-legend"),
  grew: document.querySelector("#where-grew tbody"),
  empty: document.querySelector('#where-panel [data-role="grew-empty"]'),
  select: document.getElementById("where-target"),
  selectWrap: document.querySelector('#where-panel [data-role="where-select-wrap"]'),
  since: document.getElementById("where-since"),
  target: document.querySelector('#where-panel [data-role="where-target"]'),
  reading: document.querySelector('#where-panel [data-role="where-reading"]'),
  grewSub: document.querySelector('#where-panel [data-role="grew-sub"]'),
};

// SVG's namespace, taken from the page's own <svg> (no address written here).
var SVG = el.chart ? el.chart.namespaceURI : null;

// `chosen`: the user picked a target; until then the panel follows the largest one.
var view = { key: null, chosen: false, clicked: null, scheduled: false, drawn: -1 };

function schedule() {
  if (view.scheduled) return;
  view.scheduled = true;
  requestAnimationFrame(function () { view.scheduled = false; draw(); });
}

function keys() {
  return Array.from(where.byKey.keys()).filter(function (k) { return where.byKey.get(k).length > 0; });
}

// The target whose newest reading is largest: with 300 processes, the first one found is
// as likely a 2 MB `sleep` as the service the user came for.
function largest(list) {
  var best = list[0], most = -1;
  list.forEach(function (k) {
    var readings = where.byKey.get(k);
    var total = rssOf(readings[readings.length - 1]).total;
    if (total > most) { most = total; best = k; }
  });
  return best;
}

function nameOf(key) {
  var rec = state.targets.get(key);
  return rec ? labelOf(rec) : key;
}

function syncSelect(list) {
  if (!el.select) return;
  var sig = list.map(function (k) { return k + "|" + nameOf(k); }).join(";");
  if (el.select.dataset.sig !== sig) {
    el.select.dataset.sig = sig;
    el.select.replaceChildren();
    list.forEach(function (k) {
      var o = document.createElement("option");
      o.value = k;
      o.textContent = nameOf(k);
      el.select.appendChild(o);
    });
  }
  el.select.value = view.key;
  if (el.selectWrap) el.selectWrap.hidden = list.length < 2;
}

function draw() {
  if (!el.panel) return;
  var list = keys();
  el.panel.hidden = list.length === 0;
  if (!list.length) return;
  if (view.key == null || list.indexOf(view.key) < 0) view.chosen = false;
  if (!view.chosen) view.key = largest(list);
  syncSelect(list);
  var readings = where.byKey.get(view.key);
  var now = readings[readings.length - 1];
  setAttr(el.panel, "data-key", view.key);
  setAttr(el.panel, "data-readings", String(readings.length));
  setText(el.target, nameOf(view.key));
  setText(el.reading, sentence(now) + (now.stacks ? " \u00b7 " + now.stacks + " thread stacks" : "") +
    runtimesText(now.runtimes) + " \u00b7 " + fmtClock(now.t));
  drawChart(readings);
  drawLegend(now);
  drawGrew(readings, now);
}

// The runtimes the mappings show plainly (glibc's arenas, a JVM or Go heap, V8), as
// "glibc malloc: 4 arenas beyond the main heap, 12.0 MB resident".
function runtimesText(runtimes) {
  if (!runtimes || !runtimes.length) return "";
  return runtimes.map(function (r) {
    var count = typeof r.count === "number" && r.count > 1 ? r.count + " " : "";
    var rss = typeof r.rss === "number" ? ", " + fmtBytes(r.rss) + " resident" : "";
    return " \u00b7 " + String(r.name) + ": " + count + String(r.what) + rss;
  }).join("");
}

function drawChart(readings) {
  var svg = el.chart;
  svg.replaceChildren();
  var t0 = readings[0].t, t1 = readings[readings.length - 1].t;
  var span = t1 > t0 ? t1 - t0 : 1;
  var top = 0;
  readings.forEach(function (r) { top = Math.max(top, rssOf(r).total); });
  top = top > 0 ? top * 1.05 : 1;
  var xs = readings.map(function (r) { return readings.length > 1 ? (r.t - t0) / span * W : 0; });
  if (readings.length === 1) { readings = [readings[0], readings[0]]; xs = [0, W]; }
  var below = readings.map(function () { return 0; });
  var latest = rssOf(readings[readings.length - 1]);
  CATEGORIES.forEach(function (c) {
    var above = readings.map(function (r, i) { return below[i] + r.cats[c].rss; });
    var pts = [];
    for (var i = 0; i < readings.length; i++) pts.push(xs[i].toFixed(1) + "," + (H - above[i] / top * H).toFixed(1));
    for (var j = readings.length - 1; j >= 0; j--) pts.push(xs[j].toFixed(1) + "," + (H - below[j] / top * H).toFixed(1));
    var poly = document.createElementNS(SVG, "polygon");
    poly.setAttribute("points", pts.join(" "));
    poly.setAttribute("class", "cat cat-" + c);
    poly.setAttribute("data-category", c);
    poly.setAttribute("data-rss", String(latest[c]));
    var title = document.createElementNS(SVG, "title");
    title.textContent = c + ": " + fmtBytes(latest[c]) + " now";
    poly.appendChild(title);
    svg.appendChild(poly);
    below = above;
  });
  if (view.clicked != null && view.clicked >= t0 && view.clicked <= t1) {
    var x = ((view.clicked - t0) / span * W).toFixed(1);
    var line = document.createElementNS(SVG, "line");
    line.setAttribute("x1", x); line.setAttribute("x2", x);
    line.setAttribute("y1", "0"); line.setAttribute("y2", String(H));
    line.setAttribute("class", "where-moment");
    svg.appendChild(line);
  }
  svg.dataset.t0 = String(t0);
  svg.dataset.t1 = String(t1);
}

function drawLegend(now) {
  var rss = rssOf(now);
  el.legend.replaceChildren();
  CATEGORIES.forEach(function (c) {
    var li = document.createElement("li");
    li.dataset.category = c;
    li.dataset.rss = String(rss[c]);
    var sw = document.createElement("span");
    sw.className = "swatch cat-" + c;
    li.appendChild(sw);
    li.appendChild(document.createTextNode(c + " " + fmtBytes(rss[c])));
    el.legend.appendChild(li);
  });
}

function sinceTime(readings) {
  var choice = el.since ? el.since.value : "first";
  if (choice === "clicked" && view.clicked != null) return view.clicked;
  if (choice === "first" || choice === "clicked") return readings[0].t;
  return readings[readings.length - 1].t - (+choice || 0);
}

function drawGrew(readings, now) {
  var then = baseline(readings, sinceTime(readings));
  var rows = grewMost(then, now, ROWS);
  setText(el.grewSub, "since " + fmtClock(then.t));
  el.grew.replaceChildren();
  rows.forEach(function (g) {
    var tr = document.createElement("tr");
    tr.dataset.label = g.m.label;
    tr.dataset.start = g.m.start;
    tr.dataset.category = g.m.category;
    tr.dataset.growth = String(g.growth);
    [g.m.label, g.m.category, g.m.perms, fmtBytes(g.m.size), fmtBytes(g.m.rss), fmtSignedBytes(g.growth) + (g.fresh ? " (new)" : "")]
      .forEach(function (v, i) {
        var td = document.createElement("td");
        td.textContent = v;
        if (i >= 3) td.className = "num";
        tr.appendChild(td);
      });
    el.grew.appendChild(tr);
  });
  if (el.empty) el.empty.hidden = rows.length > 0;
}

if (el.select) el.select.addEventListener("change", function () {
  view.key = el.select.value;
  view.chosen = true;
  schedule();
});
if (el.since) el.since.addEventListener("change", schedule);
if (el.chart) el.chart.addEventListener("click", function (ev) {
  var box = el.chart.getBoundingClientRect();
  var t0 = +el.chart.dataset.t0, t1 = +el.chart.dataset.t1;
  if (!(box.width > 0) || !isFinite(t0) || !isFinite(t1)) return;
  view.clicked = t0 + (ev.clientX - box.left) / box.width * (t1 - t0);
  if (el.since) el.since.value = "clicked";
  schedule();
});

onWhereChange(schedule);
