// A card per target: its name, state, and the RSS figures of the visible range. Past a
// few targets the table (table.js) stands in for them, and a card is made only for the
// target whose details are open: one card under the table, closed with its button.

import { refreshCardAlerts } from "./alerts.js";
import { refreshAttach, wireAttach } from "./attach.js";
import { colorOf, relabelSeries } from "./chart.js";
import { DASH, fmtBytes, fmtCount, fmtCpu, fmtWhen } from "./format.js";
import { needRender } from "./render.js";
import { state, store, view } from "./state.js";
import { focusRow } from "./table.js";
import { tableMode } from "./tabledata.js";
import { labelOf } from "./targets.js";
import { setAttr, setText } from "./util.js";

var cardsEl = document.getElementById("cards");
var cardTpl = document.getElementById("card-tpl");

var shownAsTable = false;
var tableEl = document.getElementById("target-table");
var cardsHome = cardsEl.parentNode;

// Whether a target has a card: every one below the table's threshold, else the open one.
function wantsCard(rec) { return !tableMode() || view.open === rec.key; }

export function createCard(rec) {
  if (!wantsCard(rec)) return;
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
  rec.card.close = q('[data-role="close"]');
  rec.card.close.addEventListener("click", function () { closeDetail(); });
  node.addEventListener("keydown", function (e) { if (e.key === "Escape" && tableMode()) closeDetail(); });
  wireAttach(rec);
  cardsEl.appendChild(node);
}

function dropCard(rec) {
  if (!rec.card) return;
  rec.card.root.remove();
  rec.card = null;
}

// Called by render: the cards follow the mode (a card per target, or the open one only).
export function syncCards() {
  var table = tableMode();
  if (!table && view.open != null) view.open = null;
  if (table === shownAsTable) return;
  shownAsTable = table;
  setAttr(cardsEl, "data-mode", table ? "detail" : null);
  // the open target's card stands right under the table; the cards, at the page's end
  if (table) tableEl.after(cardsEl);
  else cardsHome.appendChild(cardsEl);
  state.targets.forEach(function (rec) {
    if (wantsCard(rec) && !rec.card) { createCard(rec); refreshCardStatic(rec); }
    else if (!wantsCard(rec)) dropCard(rec);
  });
  cardsEl.hidden = table && view.open == null;
}

// Shows a target's details: in table mode its card (the only one) under the table; with
// cards, its card is brought into view.
export function openDetail(key) {
  var rec = state.targets.get(key);
  if (!rec) return;
  if (tableMode()) {
    var prev = view.open != null ? state.targets.get(view.open) : null;
    view.open = key;
    if (prev && prev !== rec) dropCard(prev);
    if (!rec.card) createCard(rec);
    refreshCardStatic(rec);
    cardsEl.hidden = false;
  }
  // the panels that show one process at a time follow, where they can show this one
  followIn("where-target", key);
  followIn("python-target", key);
  if (!rec.card) return;
  rec.card.root.scrollIntoView({ block: "nearest" });
  rec.card.root.focus({ preventScroll: true });
  needRender();
}

function followIn(selectId, key) {
  var sel = document.getElementById(selectId);
  if (!sel || sel.value === key) return;
  for (var i = 0; i < sel.options.length; i++) {
    if (sel.options[i].value !== key) continue;
    sel.value = key;
    sel.dispatchEvent(new Event("change"));
    return;
  }
}

export function closeDetail() {
  var key = view.open;
  if (key == null) return;
  var rec = state.targets.get(key);
  view.open = null;
  if (rec && tableMode()) dropCard(rec);
  cardsEl.hidden = tableMode();
  focusRow(key);
  needRender();
}

export function exitNote(rec) {
  var verb = rec.exit_reason === "pid-reused" ? "ended" : "exited";
  var s = verb;
  if (rec.exit_time != null) s += " at " + fmtWhen(rec.exit_time);
  if (rec.exit_code != null) s += ", code " + rec.exit_code;
  if (rec.exit_reason === "pid-reused") s += " (PID reused by another process)";
  return s;
}

export function refreshCardStatic(rec) {
  var c = rec.card;
  if (!c) return;
  var color = colorOf(rec.key);
  c.swatch.style.background = color;
  c.root.style.setProperty("--series", color);
  setText(c.name, labelOf(rec));
  c.close.hidden = !tableMode();
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
  refreshAttach(rec);
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

export function updateCards(colOf, i0, i1) {
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
