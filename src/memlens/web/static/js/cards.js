// A card per target: its name, state, and the RSS figures of the visible range.

import { refreshCardAlerts } from "./alerts.js";
import { refreshAttach, wireAttach } from "./attach.js";
import { colorOf, relabelSeries } from "./chart.js";
import { DASH, fmtBytes, fmtCount, fmtCpu, fmtWhen } from "./format.js";
import { state, store } from "./state.js";
import { labelOf } from "./targets.js";
import { setAttr, setText } from "./util.js";

var cardsEl = document.getElementById("cards");
var cardTpl = document.getElementById("card-tpl");

export function createCard(rec) {
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
  wireAttach(rec);
  cardsEl.appendChild(node);
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
