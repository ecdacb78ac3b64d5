// The targets' table, shown instead of the cards past a few targets: a row per target,
// sortable by every column, narrowed by a search box, and virtualised (only the rows in
// view are in the page, so 1,000 targets cost what 20 do). Its figures are worked out at
// most once a second; sorting, searching and scrolling redraw from them at once. A row
// (click, or Enter) opens that target's details: its card, under the table.

import { openDetail } from "./cards.js";
import { colorOf } from "./chart.js";
import { DASH, fmtBytes, fmtCount, fmtSignedBytes, fmtThousands } from "./format.js";
import { needRender } from "./render.js";
import { view } from "./state.js";
import { drawSpark } from "./spark.js";
import { buildRows, COLUMNS, filterRows, sortRows, tableMode, togglePin } from "./tabledata.js";
import { setAttr, setText, visibleRows } from "./util.js";

var ROW_H = 32;              // px, fixed: the virtual scroll works it out from the index
var OVERSCAN = 6;            // rows drawn beyond each edge of the view
var REFRESH_MS = 1000;       // the figures are worked out at most this often

var sectionEl = document.getElementById("target-table");
var scrollEl = document.getElementById("table-scroll");
var gridEl = document.getElementById("table-grid");
var headRow = gridEl.querySelector("thead tr");
var bodyEl = gridEl.querySelector("tbody");
var searchEl = document.getElementById("table-search");
var countEl = document.getElementById("table-count");
var emptyEl = document.getElementById("table-empty");

var t = {
  all: null,                 // rows as last worked out
  shown: [],                 // filtered and sorted
  stamp: 0,                  // bumped at each refresh: sparklines redraw once per refresh
  last: -Infinity,           // when the figures were last worked out (ms)
  trailing: 0,               // a timer: one more refresh after the last change
  sort: { col: "rss", dir: "descending" },   // the biggest first, as top does
  active: null,              // key of the row the keyboard is on
  pool: [],                  // row elements, reused
};

var topPad = padRow(), bottomPad = padRow();

function padRow() {
  var tr = document.createElement("tr");
  tr.className = "tt-pad";
  tr.setAttribute("aria-hidden", "true");
  var td = document.createElement("td");
  td.colSpan = COLUMNS.length;
  tr.appendChild(td);
  return tr;
}

COLUMNS.forEach(function (c) {
  var th = document.createElement("th");
  th.scope = "col";
  th.setAttribute("data-col", c.id);
  th.setAttribute("aria-sort", "none");
  if (c.num) th.className = "num";
  var b = document.createElement("button");
  b.type = "button";
  b.className = "tt-sort";
  b.textContent = c.label;
  if (c.title) b.title = c.title;
  b.addEventListener("click", function () { sortBy(c.id); });
  th.appendChild(b);
  headRow.appendChild(th);
});

function sortBy(col) {
  var c = COLUMNS.filter(function (x) { return x.id === col; })[0];
  if (t.sort.col === col) t.sort.dir = t.sort.dir === "ascending" ? "descending" : "ascending";
  else t.sort = { col: col, dir: c.dir };
  reorder();
}

// Called by render with its view of the visible window.
export function updateTable(colOf, i0, i1) {
  var on = tableMode();
  sectionEl.hidden = !on;
  if (!on) { t.all = null; return; }
  var now = Date.now();
  if (t.all && now - t.last < REFRESH_MS) {
    // what changed since is shown at the next refresh, even when no tick comes to draw
    // the page again (a recording, a watch whose targets all exited)
    if (!t.trailing) t.trailing = setTimeout(function () { t.trailing = 0; needRender(); }, REFRESH_MS - (now - t.last));
    return;
  }
  t.last = now;
  t.all = buildRows(colOf, i0, i1);
  t.stamp++;
  reorder();
}

function reorder() {
  if (!t.all) return;
  t.shown = sortRows(filterRows(t.all, searchEl.value), t.sort.col, t.sort.dir);
  headRow.querySelectorAll("th").forEach(function (th) {
    setAttr(th, "aria-sort", th.getAttribute("data-col") === t.sort.col ? t.sort.dir : "none");
  });
  var total = t.all.length, n = t.shown.length;
  setText(countEl, n === total ? fmtThousands(total) : fmtThousands(n) + " of " + fmtThousands(total));
  setAttr(sectionEl, "data-rows", String(n));
  setAttr(sectionEl, "data-total", String(total));
  setAttr(gridEl, "aria-rowcount", String(n + 1));
  emptyEl.hidden = n > 0;
  paint();
}

function paint(again) {
  var n = t.shown.length, viewH = scrollEl.clientHeight;
  var headH = gridEl.tHead ? gridEl.tHead.offsetHeight : ROW_H;
  var top = Math.max(0, scrollEl.scrollTop - headH);
  var range = visibleRows(top, viewH, ROW_H, n, OVERSCAN);
  var first = range[0], last = range[1];
  topPad.firstChild.style.height = first * ROW_H + "px";
  bottomPad.firstChild.style.height = (n - last) * ROW_H + "px";
  while (t.pool.length < last - first) t.pool.push(makeRow());
  var want = [topPad];
  for (var i = first; i < last; i++) {
    var tr = t.pool[i - first];
    fillRow(tr, t.shown[i], i);
    want.push(tr);
  }
  want.push(bottomPad);
  // put the rows in order, touching only what moved (focus and hover stay put)
  for (var j = 0; j < want.length; j++) {
    if (bodyEl.children[j] !== want[j]) bodyEl.insertBefore(want[j], bodyEl.children[j] || null);
  }
  while (bodyEl.children.length > want.length) bodyEl.removeChild(bodyEl.lastChild);
  var activeIn = t.shown.some(function (r, k) { return r.key === t.active && k >= first && k < last; });
  setAttr(gridEl, "aria-activedescendant", activeIn ? "tt-active" : null);
  // the box grew with these rows (a search was cleared): fill what it shows now
  if (!again && scrollEl.clientHeight > viewH + 1) paint(true);
}

function makeRow() {
  var tr = document.createElement("tr");
  tr.className = "tt-row";
  var cells = {};
  COLUMNS.forEach(function (c) {
    var td = document.createElement("td");
    td.setAttribute("data-col", c.id);
    if (c.num) td.className = "num";
    tr.appendChild(td);
    cells[c.id] = td;
  });
  var sw = document.createElement("span");
  sw.className = "tt-swatch";
  sw.setAttribute("aria-hidden", "true");
  var label = document.createElement("span");
  label.className = "tt-label";
  var pin = document.createElement("span");
  pin.className = "tt-pin";
  pin.textContent = "pinned";
  var nameBox = document.createElement("div");
  nameBox.className = "tt-name";
  nameBox.append(sw, label, pin);
  cells.name.appendChild(nameBox);
  var badge = document.createElement("span");
  badge.className = "badge flag tt-leak";
  cells.leak.appendChild(badge);
  var canvas = document.createElement("canvas");
  canvas.className = "tt-spark";
  canvas.setAttribute("aria-hidden", "true");
  cells.trend.appendChild(canvas);
  tr._c = { cells: cells, swatch: sw, label: label, pin: pin, badge: badge, canvas: canvas };
  return tr;
}

function fillRow(tr, r, index) {
  var c = tr._c;
  setAttr(tr, "data-key", r.key);
  setAttr(tr, "data-pid", r.pid == null ? null : String(r.pid));
  setAttr(tr, "data-kind", r.sum ? "sum" : "process");
  setAttr(tr, "data-state", r.exited ? "exited" : "running");
  setAttr(tr, "data-rss", r.rss == null ? null : String(Math.round(r.rss)));
  setAttr(tr, "data-growth", r.growth == null ? null : String(Math.round(r.growth)));
  setAttr(tr, "data-leak", r.leak.level ? r.leak.level : null);
  setAttr(tr, "aria-rowindex", String(index + 2));
  setAttr(tr, "aria-selected", view.open === r.key ? "true" : "false");
  setAttr(tr, "id", r.key === t.active ? "tt-active" : null);
  tr.classList.toggle("is-active", r.key === t.active);
  c.swatch.style.background = colorOf(r.key);
  setText(c.label, r.sum ? "total (pid " + r.pid + " + children)" : r.name + (r.exited ? " \u00b7 exited" : ""));
  c.cells.name.title = r.cmd || r.name;
  c.pin.hidden = !view.pinned.has(r.key);
  setText(c.cells.pid, r.pid == null ? DASH : String(r.pid));
  setText(c.cells.group, r.group || DASH);
  c.cells.group.title = r.group;
  setText(c.cells.rss, fmtBytes(r.rss));
  setText(c.cells.growth, fmtSignedBytes(r.growth));
  setAttr(c.cells.growth, "data-sign", r.growth > 0 ? "up" : r.growth < 0 ? "down" : null);
  c.badge.hidden = !r.leak.level;
  setText(c.badge, r.leak.text);
  c.badge.title = r.leak.title;
  setAttr(c.badge, "data-severity", r.leak.severity);
  setAttr(c.badge, "data-level", r.leak.level);
  setText(c.cells.threads, fmtCount(r.threads));
  setText(c.cells.fds, fmtCount(r.fds));
  var sig = r.key + "|" + t.stamp;
  if (c.canvas._sig !== sig) {
    c.canvas._sig = sig;
    drawSpark(c.canvas, r.col, r.i0, r.i1, colorOf(r.key));
  }
}

// ---------------------------------------------------------------- the person's hand

var paintPending = false;
scrollEl.addEventListener("scroll", function () {
  if (paintPending) return;
  paintPending = true;
  requestAnimationFrame(function () { paintPending = false; paint(); });
}, { passive: true });

searchEl.addEventListener("input", function () {
  scrollEl.scrollTop = 0;
  reorder();
});

searchEl.addEventListener("keydown", function (e) {
  if (e.key === "ArrowDown" && t.shown.length) {
    e.preventDefault();
    setActive(0);
    gridEl.focus();
  } else if (e.key === "Enter" && t.shown.length === 1) {
    open(t.shown[0].key);
  }
});

bodyEl.addEventListener("click", function (e) {
  var tr = e.target.closest ? e.target.closest("tr.tt-row") : null;
  if (!tr || !tr.dataset.key) return;
  t.active = tr.dataset.key;
  open(tr.dataset.key);
});

gridEl.addEventListener("focus", function () {
  if (t.active == null && t.shown.length) setActive(0);
});

gridEl.addEventListener("keydown", function (e) {
  if (e.target !== gridEl) return;   // the sort buttons keep their keys
  var i = indexOfActive(), n = t.shown.length, page = Math.max(1, Math.floor(scrollEl.clientHeight / ROW_H) - 1);
  var to = null;
  switch (e.key) {
    case "ArrowDown": to = i + 1; break;
    case "ArrowUp": to = i - 1; break;
    case "PageDown": to = i + page; break;
    case "PageUp": to = i - page; break;
    case "Home": to = 0; break;
    case "End": to = n - 1; break;
    case "Enter":
    case " ":
      if (i >= 0) open(t.shown[i].key);
      break;
    case "p":
    case "P":
      if (i >= 0) { togglePin(t.shown[i].key); paint(); needRender(); }
      break;
    case "Escape": searchEl.focus(); break;
    default: return;
  }
  e.preventDefault();
  if (to != null && n) setActive(Math.max(0, Math.min(n - 1, to)));
});

function indexOfActive() {
  for (var i = 0; i < t.shown.length; i++) if (t.shown[i].key === t.active) return i;
  return -1;
}

function setActive(i) {
  t.active = t.shown[i].key;
  var headH = gridEl.tHead ? gridEl.tHead.offsetHeight : ROW_H;
  var top = headH + i * ROW_H, bottom = top + ROW_H;
  if (top - headH < scrollEl.scrollTop) scrollEl.scrollTop = top - headH;
  else if (bottom > scrollEl.scrollTop + scrollEl.clientHeight) scrollEl.scrollTop = bottom - scrollEl.clientHeight;
  paint();
}

function open(key) {
  openDetail(key);
  paint();
}

// The row of a target gets the keyboard again (its details were closed).
export function focusRow(key) {
  if (!tableMode()) return;
  var i = -1;
  t.shown.forEach(function (r, k) { if (r.key === key) i = k; });
  if (i < 0) return;
  setActive(i);
  gridEl.focus();
}

// Redraw the rows in view now (pins or the open target changed).
export function repaintTable() { if (t.all) paint(); }
