// The header's picker, past a few targets: a count ("300 targets") that opens a popover
// with a search box and a virtualised list, to bring a target's details up or pin it.
// The header keeps one line whatever the number of targets: the chips of pinned targets
// stand beside the count, as many as fit (header.js).

import { openDetail } from "./cards.js";
import { colorOf } from "./chart.js";
import { fmtThousands } from "./format.js";
import { needRender } from "./render.js";
import { state, view } from "./state.js";
import { repaintTable } from "./table.js";
import { buildRows, filterRows, togglePin } from "./tabledata.js";
import { setAttr, setText, visibleRows } from "./util.js";

var ROW_H = 30;
var OVERSCAN = 6;

var wrapEl = document.getElementById("target-picker");
var buttonEl = document.getElementById("picker-button");
var countEl = document.getElementById("picker-count");
var popEl = document.getElementById("picker");
var searchEl = document.getElementById("picker-search");
var scrollEl = document.getElementById("picker-scroll");
var listEl = document.getElementById("picker-list");

var p = { rows: [], shown: [], size: -1, active: 0, pool: [] };

// Called by the header on every render: the count, and the list while it is open.
export function updatePicker(on) {
  wrapEl.hidden = !on;
  if (!on) { if (!popEl.hidden) closePicker(false); return; }
  var n = state.targets.size, exited = 0;
  state.targets.forEach(function (rec) { if (rec.state === "exited") exited++; });
  setText(countEl, fmtThousands(n) + " targets" + (exited ? " \u00b7 " + fmtThousands(exited) + " exited" : ""));
  if (!popEl.hidden && n !== p.size) refill();
}

function refill() {
  p.size = state.targets.size;
  p.rows = buildRows(null, 0, 0);
  // pinned first, then in the order they came
  p.rows.sort(function (a, b) { return (view.pinned.has(b.key) ? 1 : 0) - (view.pinned.has(a.key) ? 1 : 0); });
  p.shown = filterRows(p.rows, searchEl.value);
  p.active = Math.max(0, Math.min(p.active, p.shown.length - 1));
  listEl.style.height = p.shown.length * ROW_H + "px";
  paint();
}

function paint() {
  var n = p.shown.length;
  var range = visibleRows(scrollEl.scrollTop, scrollEl.clientHeight, ROW_H, n, OVERSCAN);
  var first = range[0], last = range[1];
  while (p.pool.length < last - first) p.pool.push(makeItem());
  var used = 0;
  for (var i = first; i < last; i++) {
    var li = p.pool[used++];
    fillItem(li, p.shown[i], i);
    if (li.parentNode !== listEl) listEl.appendChild(li);
  }
  for (var j = used; j < p.pool.length; j++) if (p.pool[j].parentNode) p.pool[j].remove();
  var activeIn = p.active >= first && p.active < last && n > 0;
  setAttr(searchEl, "aria-activedescendant", activeIn ? "picker-active" : null);
  setAttr(popEl, "data-rows", String(n));
}

function makeItem() {
  var li = document.createElement("li");
  li.className = "picker-item";
  li.setAttribute("role", "option");
  var sw = document.createElement("span");
  sw.className = "tt-swatch";
  sw.setAttribute("aria-hidden", "true");
  var label = document.createElement("span");
  label.className = "picker-label";
  var group = document.createElement("span");
  group.className = "picker-group muted";
  var pin = document.createElement("button");
  pin.type = "button";
  pin.className = "picker-pin";
  pin.tabIndex = -1;
  pin.addEventListener("click", function (e) {
    e.stopPropagation();
    pinKey(li.dataset.key);
  });
  li.append(sw, label, group, pin);
  li.addEventListener("mousedown", function (e) { e.preventDefault(); });   // the search keeps focus
  li.addEventListener("click", function () { show(li.dataset.key); });
  li._c = { sw: sw, label: label, group: group, pin: pin };
  return li;
}

function fillItem(li, r, i) {
  var c = li._c, pinned = view.pinned.has(r.key);
  li.style.top = i * ROW_H + "px";
  setAttr(li, "data-key", r.key);
  setAttr(li, "data-pid", r.pid == null ? null : String(r.pid));
  setAttr(li, "data-state", r.exited ? "exited" : "running");
  setAttr(li, "aria-selected", pinned ? "true" : "false");
  setAttr(li, "id", i === p.active ? "picker-active" : null);
  li.classList.toggle("is-active", i === p.active);
  c.sw.style.background = colorOf(r.key);
  setText(c.label, r.sum ? "total (pid " + r.pid + " + children)" : r.name + " (pid " + r.pid + ")" + (r.exited ? " \u00b7 exited" : ""));
  li.title = r.cmd || r.name;
  setText(c.group, r.group && r.group !== r.name ? r.group : "");
  setText(c.pin, pinned ? "unpin" : "pin");
  setAttr(c.pin, "aria-pressed", pinned ? "true" : "false");
  c.pin.setAttribute("aria-label", (pinned ? "Unpin " : "Pin ") + r.name + " (pid " + r.pid + ")");
}

function pinKey(key) {
  if (!key) return;
  togglePin(key);
  paint();
  repaintTable();
  needRender();
}

function show(key) {
  if (!key) return;
  closePicker(false);
  openDetail(key);
}

export function openPicker() {
  popEl.hidden = false;
  setAttr(buttonEl, "aria-expanded", "true");
  searchEl.value = "";
  scrollEl.scrollTop = 0;
  p.active = 0;
  refill();
  searchEl.focus();
}

export function closePicker(refocus) {
  popEl.hidden = true;
  setAttr(buttonEl, "aria-expanded", "false");
  if (refocus) buttonEl.focus();
}

function setActive(i) {
  if (!p.shown.length) return;
  p.active = Math.max(0, Math.min(p.shown.length - 1, i));
  var top = p.active * ROW_H;
  if (top < scrollEl.scrollTop) scrollEl.scrollTop = top;
  else if (top + ROW_H > scrollEl.scrollTop + scrollEl.clientHeight) scrollEl.scrollTop = top + ROW_H - scrollEl.clientHeight;
  paint();
}

buttonEl.addEventListener("click", function () {
  if (popEl.hidden) openPicker(); else closePicker(true);
});

searchEl.addEventListener("input", function () {
  p.active = 0;
  scrollEl.scrollTop = 0;
  refill();
});

searchEl.addEventListener("keydown", function (e) {
  var page = Math.max(1, Math.floor(scrollEl.clientHeight / ROW_H) - 1);
  var cur = p.shown[p.active];
  switch (e.key) {
    case "ArrowDown": setActive(p.active + 1); break;
    case "ArrowUp": setActive(p.active - 1); break;
    case "PageDown": setActive(p.active + page); break;
    case "PageUp": setActive(p.active - page); break;
    case "Enter":
      if (!cur) return;
      if (e.ctrlKey || e.metaKey) pinKey(cur.key); else show(cur.key);
      break;
    case "Escape": closePicker(true); break;
    default: return;
  }
  e.preventDefault();
});

var paintPending = false;
scrollEl.addEventListener("scroll", function () {
  if (paintPending) return;
  paintPending = true;
  requestAnimationFrame(function () { paintPending = false; paint(); });
}, { passive: true });

// a click anywhere else closes it, as does the focus leaving it
document.addEventListener("mousedown", function (e) {
  if (!popEl.hidden && !wrapEl.contains(e.target)) closePicker(false);
});
popEl.addEventListener("focusout", function (e) {
  if (!popEl.hidden && e.relatedTarget && !wrapEl.contains(e.relatedTarget)) closePicker(false);
});
