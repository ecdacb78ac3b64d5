// Marks on the RSS chart ("batch 2 starts"): memlens.mark() in the program, read through
// its agent, or `memlens mark PID TEXT` from a shell, live or in a recording served
// afterwards. Each is a dashed vertical line with its text at the top, and an entry in
// the list under the chart. A mark's text comes from outside: it is drawn with fillText
// and listed with textContent, never parsed as HTML.

import { chartEl, colorOf, processSeriesCount } from "./chart.js";
import { FONT_STACK } from "./constants.js";
import { fmtWhen } from "./format.js";
import { needRender } from "./render.js";
import { marks, ui } from "./state.js";
import { setAttr } from "./util.js";

var MAX_MARKS = 500;        // kept on the page; the oldest go first
var LISTED = 20;            // the newest, in the list under the chart
var LABEL_CHARS = 40;       // of a label on the chart; the list has the whole text
var listEl = document.getElementById("mark-list");

export function addMarks(list) {
  if (!Array.isArray(list)) return;
  var added = 0;
  list.forEach(function (m) {
    if (!m || typeof m !== "object" || typeof m.text !== "string") return;
    var t = +m.t;
    if (!isFinite(t)) return;
    var key = typeof m.key === "string" ? m.key : null;
    var id = (key || "") + "\u0000" + t + "\u0000" + m.text;
    if (marks.seen.has(id)) return;   // a backfill after a reconnect repeats them
    marks.seen.add(id);
    marks.list.push({ t: t, key: key, text: m.text.slice(0, 1000), source: String(m.source || ""), id: id });
    added++;
  });
  if (!added) return;
  marks.list.sort(function (a, b) { return a.t - b.t; });
  while (marks.list.length > MAX_MARKS) marks.seen.delete(marks.list.shift().id);
  renderList();
  needRender();
}

function renderList() {
  if (!listEl) return;
  var shown = marks.list.slice(-LISTED);
  listEl.textContent = "";
  shown.forEach(function (m) {
    var li = document.createElement("li");
    li.className = "mark-item";
    li.dataset.t = String(m.t);
    if (m.key) li.dataset.key = m.key;
    var when = document.createElement("span");
    when.className = "muted";
    when.textContent = fmtWhen(m.t) + " ";
    var text = document.createElement("span");
    text.className = "mark-text";
    text.textContent = visible(m.text);
    li.appendChild(when);
    li.appendChild(text);
    listEl.appendChild(li);
  });
  listEl.hidden = shown.length === 0;
  setAttr(chartEl, "data-marks", String(marks.list.length));
}

function shown(u, m) {
  if (m.key == null) return true;
  var i = ui.chartKeys.indexOf(m.key);
  return i >= 0 && !!u.series[i + 1] && u.series[i + 1].show !== false;
}

// control characters made visible: a mark's text is the profiled process's
function visible(text) { return text.replace(/[\u0000-\u001f\u007f]/g, "\u00b7"); }

function label(text) {
  var s = visible(text);
  return s.length > LABEL_CHARS ? s.slice(0, LABEL_CHARS - 1) + "\u2026" : s;
}

// A uPlot draw hook: the marks in the visible range, over the lines.
export function drawMarks(u) {
  var xs = u.scales.x, ctx = u.ctx, b = u.bbox, px = uPlot.pxRatio || 1, drawn = 0;
  if (marks.list.length && xs.min != null) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(b.left, b.top, b.width, b.height);
    ctx.clip();
    ctx.font = 11 * px + "px " + FONT_STACK;
    ctx.textBaseline = "top";
    var row = 0, lastX = -Infinity;
    marks.list.forEach(function (m) {
      if (m.t < xs.min || m.t > xs.max || !shown(u, m)) return;
      drawn++;
      var x = Math.round(u.valToPos(m.t, "x", true)) + 0.5;
      var color = m.key != null && processSeriesCount() > 1 ? colorOf(m.key) : ui.theme.axis;
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5 * px;
      ctx.setLineDash([6 * px, 3 * px]);
      ctx.beginPath();
      ctx.moveTo(x, b.top);
      ctx.lineTo(x, b.top + b.height);
      ctx.stroke();
      // labels of marks close together step down a row rather than overlap
      var text = label(m.text);
      var w = ctx.measureText(text).width + 6 * px;
      row = x - lastX < w ? (row + 1) % 4 : 0;
      lastX = x;
      var y = b.top + 2 * px + row * 14 * px;
      var tx = x + w + 3 * px > b.left + b.width ? x - w - 3 * px : x + 3 * px;
      ctx.setLineDash([]);
      ctx.globalAlpha = 0.85;
      ctx.fillStyle = ui.theme.dark ? "#1b2230" : "#ffffff";
      ctx.fillRect(tx, y, w, 13 * px);
      ctx.globalAlpha = 1;
      ctx.fillStyle = color;
      ctx.fillText(text, tx + 3 * px, y + 1 * px);
    });
    ctx.restore();
  }
  setAttr(chartEl, "data-marks-visible", String(drawn));
}
