// The grouped chart's legend (groupchart.js): per group its sum (and which measure the sum
// is), its mean, its top members and "others (n)", never one entry per process. A member
// is a button: it pins the member on the chart (or unpins it). The others open into a
// list to pin one from. Values are the newest, or those under the pointer on the chart.
// The controls choose how many members each group draws and what ranks them.

import { OTHERS_LISTED, TOP_CHOICES } from "./constants.js";
import { DASH, fmtBytes, fmtSignedBytes, fmtWhen } from "./format.js";
import { togglePin } from "./groupchart.js";
import { MEASURE_TEXT, measureName } from "./groups.js";
import { needRender } from "./render.js";
import { grouping, state, ui, view } from "./state.js";
import { labelOf } from "./targets.js";
import { setAttr, setText } from "./util.js";

var rootEl = document.getElementById("group-legend");
var listEl = document.getElementById("group-list");
var measureEl = document.getElementById("group-measure");
var whenEl = document.getElementById("group-when");
var topEl = document.getElementById("group-top");
var byEl = document.getElementById("group-by");
var serverByEl = document.getElementById("group-by-server");
var builtSig = "";
var openOthers = new Set();    // groups whose others' list is open
var rows = [];                 // {spec index, element of its value}: filled by build

TOP_CHOICES.forEach(function (n) {
  var o = document.createElement("option");
  o.value = String(n);
  o.textContent = String(n);
  o.selected = n === grouping.top;
  topEl.appendChild(o);
});
topEl.addEventListener("change", function () { grouping.top = +topEl.value || grouping.top; needRender(); });
byEl.addEventListener("change", function () { grouping.by = byEl.value === "growth" ? "growth" : "rss"; needRender(); });

function visible(text) { return String(text).replace(/[\u0000-\u001f\u007f]/g, "\u00b7"); }

export function showGroupLegend(on) {
  rootEl.hidden = !on;
  builtSig = "";
}

function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}

function swatch(color, kind) {
  var s = el("span", "gl-swatch gl-" + kind);
  s.style.setProperty("--c", color);
  s.setAttribute("aria-hidden", "true");
  return s;
}

function specIndex(id) { return ui.chartKeys.indexOf(id) + 1; }

function memberButton(key, color, pinned, kind) {
  var rec = state.targets.get(key);
  var li = el("li", "gl-member");
  li.setAttribute("data-key", key);
  li.setAttribute("data-pinned", pinned ? "true" : "false");
  var b = el("button", "gl-pin");
  b.type = "button";
  b.setAttribute("aria-pressed", pinned ? "true" : "false");
  b.title = (pinned ? "unpin " : "pin ") + (rec ? visible(rec.cmdline || labelOf(rec)) : key);
  b.appendChild(swatch(color, kind));
  b.appendChild(el("span", "gl-name", rec ? visible(labelOf(rec)) : key));
  var v = el("span", "gl-value", DASH);
  b.appendChild(v);
  if (pinned) b.appendChild(el("span", "gl-pinned", "pinned"));
  b.addEventListener("click", function () { togglePin(key); });
  li.appendChild(b);
  rows.push({ si: specIndex(key), v: v });
  return li;
}

function groupItem(g) {
  var li = el("li", "gl-group");
  li.setAttribute("data-group", g.label);
  li.setAttribute("data-count", String(g.keys.length));
  var head = el("div", "gl-head");
  head.appendChild(swatch(g.color, "sum"));
  head.appendChild(el("strong", "gl-label", visible(g.label)));
  var exited = exitedOf(g);
  head.appendChild(el("span", "gl-count muted", g.keys.length + " processes" + (exited ? " (" + exited + " exited)" : "")));
  var sum = el("span", "gl-sum");
  sum.setAttribute("data-role", "group-sum");
  var sumTag = el("span", "gl-tag", "sum");
  var sumV = el("span", "gl-value", DASH);
  sum.appendChild(sumTag);
  sum.appendChild(sumV);
  head.appendChild(sum);
  var mean = el("span", "gl-mean");
  mean.setAttribute("data-role", "group-mean");
  mean.appendChild(swatch(g.color, "mean"));
  mean.appendChild(el("span", "gl-tag", "mean"));
  var meanV = el("span", "gl-value", DASH);
  mean.appendChild(meanV);
  head.appendChild(mean);
  li.appendChild(head);
  rows.push({ si: specIndex(g.ids.sum), v: sumV, measure: sum, group: g });
  rows.push({ si: specIndex(g.ids.mean), v: meanV, measure: mean, group: g, word: "mean per process" });

  var members = el("ul", "gl-members");
  g.top.forEach(function (k) { members.appendChild(memberButton(k, specColor(k), view.pinned.has(k), "line")); });
  g.pinned.forEach(function (k) { members.appendChild(memberButton(k, specColor(k), true, "line")); });
  li.appendChild(members);

  if (g.others.length) {
    var d = el("details", "gl-others");
    d.setAttribute("data-count", String(g.others.length));
    d.open = openOthers.has(g.label);
    var sm = el("summary");
    sm.appendChild(swatch(g.color, "band"));
    sm.appendChild(el("span", "gl-tag", "others (" + g.others.length + ")"));
    sm.appendChild(el("span", "muted", "RSS min\u2013max"));
    var bandV = el("span", "gl-value", DASH);
    sm.appendChild(bandV);
    d.appendChild(sm);
    rows.push({ si: specIndex(g.ids.lo), hi: specIndex(g.ids.hi), v: bandV });
    d.addEventListener("toggle", function () {
      if (d.open) openOthers.add(g.label); else openOthers.delete(g.label);
      if (d.open && !d.querySelector("ul")) fillOthers(d, g);
    });
    if (d.open) fillOthers(d, g);
    li.appendChild(d);
  }
  return li;
}

// The others, ranked as the top ones are, each a button that pins it.
function fillOthers(d, g) {
  var ul = el("ul", "gl-members gl-other-list");
  g.others.slice(0, OTHERS_LISTED).forEach(function (k) {
    var rec = state.targets.get(k);
    var li = memberButton(k, g.color, false, "band");
    var r = g.ranks.get(k);
    setText(li.querySelector(".gl-value"), r == null ? DASH : grouping.by === "growth" ? fmtSignedBytes(r) : fmtBytes(r));
    rows.pop();   // its value is its rank, not a series of the chart
    if (!rec) li.hidden = true;
    ul.appendChild(li);
  });
  if (g.others.length > OTHERS_LISTED) ul.appendChild(el("li", "muted", "and " + (g.others.length - OTHERS_LISTED) + " more"));
  d.appendChild(ul);
}

function exitedOf(g) {
  var n = 0;
  g.keys.forEach(function (k) { var r = state.targets.get(k); if (r && r.state === "exited") n++; });
  return n;
}

function specColor(key) {
  var s = grouping.specs[specIndex(key) - 1];
  return s ? s.color : ui.theme.axis;
}

function build() {
  rows = [];
  listEl.textContent = "";
  grouping.groups.forEach(function (g) { listEl.appendChild(groupItem(g)); });
  grouping.specs.forEach(function (s) {
    if (s.kind === "single") listEl.appendChild(memberButton(s.key, s.color, !!s.pinned, "line"));
    if (s.kind === "total") {
      var li = el("li", "gl-total");
      li.setAttribute("data-key", s.key);
      li.appendChild(swatch(s.color, "total"));
      li.appendChild(el("span", "gl-name", visible(s.label)));
      var v = el("span", "gl-value", DASH);
      li.appendChild(v);
      listEl.appendChild(li);
      rows.push({ si: specIndex(s.id), v: v });
    }
  });
}

function valueAt(si, idx) {
  var u = ui.chart, col = u && u.data[si];
  if (!col) return null;
  if (idx != null) return col[idx];
  for (var i = col.length - 1; i >= 0; i--) if (col[i] != null) return col[i];
  return null;
}

function fillValues(idx) {
  rows.forEach(function (r) {
    if (r.hi) {
      var lo = valueAt(r.si, idx), hi = valueAt(r.hi, idx);
      setText(r.v, lo == null || hi == null ? DASH : fmtBytes(lo) + " \u2013 " + fmtBytes(hi));
      return;
    }
    var v = valueAt(r.si, idx);
    setText(r.v, v == null ? DASH : fmtBytes(v));
    setAttr(r.v, "data-bytes", v == null ? null : String(Math.round(v)));
  });
  var u = ui.chart;
  var t = idx != null && u && u.data[0] ? u.data[0][idx] : null;
  setText(whenEl, t != null ? "at " + fmtWhen(t) : "newest values");
}

// Each render: the legend again if the chart's series changed, its values always.
export function updateGroupLegend() {
  var sig = grouping.sig + "#" + grouping.groups.map(function (g) {
    return g.keys.length + "/" + g.others.length + "/" + exitedOf(g);
  }).join(",");
  if (sig !== builtSig) { builtSig = sig; build(); }
  rows.forEach(function (r) {
    if (!r.measure) return;
    var m = r.group.measure;
    var word = r.word || "sum";
    setText(r.measure.querySelector(".gl-tag"), (r.word ? "mean" : "sum") + (m ? " \u00b7 " + measureName(m) : ""));
    r.measure.title = m ? "The group's " + word + ": " + MEASURE_TEXT[m] : "";
    setAttr(r.measure, "data-measure", m);
  });
  // what the server groups by (hello.group_by); a server that does not say groups by name
  setText(serverByEl, "groups by " + (grouping.groupBy || "name"));
  serverByEl.title = "the watch's --group-by";
  var m = grouping.measure;
  setText(measureEl, "sum: " + (m ? measureName(m) : DASH));
  measureEl.title = m ? MEASURE_TEXT[m] : "no sums yet";
  setAttr(measureEl, "data-measure", m);
  var u = ui.chart;
  fillValues(u && u.cursor ? u.cursor.idx : null);
}

// The pointer moved over the chart: the values under it.
export function groupLegendCursor(u) {
  if (!ui.grouped || u !== ui.chart) return;
  fillValues(u.cursor.idx);
}
