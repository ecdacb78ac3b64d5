// The stacks a leak alert names (its `heap_growth`, docs/protocol.md): where the heap in
// use grew over the leak's window, for a process that runs the heap profiler. Shown in
// the alert's banner as a list that opens on a click.
//
// Every function name and path is the profiled process's own text: it is written with
// textContent only, and cut to a length, never parsed as markup.

import { fmtBytes, fmtClock } from "./format.js";
import { num, setAttr, setText } from "./util.js";

var MAX_STACKS = 8;        // as many as memlens names
var MAX_TEXT = 200;        // characters shown of a name or a path
var MAX_CALLERS = 6;       // callers shown after the allocating frame

function cut(s) {
  s = String(s == null ? "?" : s);
  return s.length > MAX_TEXT ? s.slice(0, MAX_TEXT) + "\u2026" : s;
}

function shortPath(p) {
  var parts = String(p == null ? "?" : p).replace(/\\/g, "/").split("/");
  return parts.slice(-2).join("/");
}

function frameText(f) {
  if (!f || typeof f !== "object") return "?";
  return cut(f.function) + " (" + cut(shortPath(f.file)) + ":" + (num(f.line) == null ? "?" : num(f.line)) + ")";
}

// The stacks of a leak alert worth showing: a list of objects with a positive growth.
export function stacksOf(msg) {
  var g = msg && msg.heap_growth;
  if (!g || typeof g !== "object" || !Array.isArray(g.stacks)) return [];
  return g.stacks.filter(function (s) {
    return s && typeof s === "object" && num(s.growth_bytes) != null;
  }).slice(0, MAX_STACKS);
}

// Fill the banner's stacks part (a <details>) from the alert `msg`; hidden without any.
export function fillStacks(el, msg) {
  if (!el) return;
  var stacks = msg.type === "leak" && msg.state !== "cleared" ? stacksOf(msg) : [];
  el.hidden = stacks.length === 0;
  setAttr(el, "data-stacks", String(stacks.length));
  if (!stacks.length) return;
  var g = msg.heap_growth;
  var from = num(g.from), to = num(g.to);
  setText(el.querySelector(".alert-stacks-summary"),
    "where the heap grew" + (from != null && to != null ? " (profiles " + fmtClock(from) + "\u2013" + fmtClock(to) + ")" : ""));
  var list = el.querySelector(".alert-stack-list");
  var key = JSON.stringify(stacks);
  if (list.dataset.shown === key) return;   // redraw only on a change: an open list keeps its place
  list.dataset.shown = key;
  list.replaceChildren.apply(list, stacks.map(stackItem));
}

function stackItem(s) {
  var frames = Array.isArray(s.frames) ? s.frames : [];
  var top = frames.length ? frames[frames.length - 1] : null;
  var li = document.createElement("li");
  li.className = "alert-stack";
  var grew = document.createElement("span");
  grew.className = "alert-stack-grew";
  grew.textContent = "+" + fmtBytes(num(s.growth_bytes));
  var at = document.createElement("code");
  at.className = "alert-stack-at";
  at.textContent = top ? frameText(top) : "[no Python frame]";
  li.append(grew, " ", at);
  var callers = frames.slice(0, -1).reverse().slice(0, MAX_CALLERS).map(function (f) {
    return f && typeof f === "object" ? cut(f.function) : "?";
  });
  if (callers.length) {
    if (frames.length - 1 > MAX_CALLERS || (num(s.depth) || 0) > frames.length) callers.push("\u2026");
    var from = document.createElement("span");
    from.className = "alert-stack-callers muted";
    from.textContent = "< " + callers.join(" < ");
    li.append(" ", from);
  }
  li.title = frames.slice().reverse().map(function (f) {
    return f && typeof f === "object" ? cut(f.function) + " " + cut(f.file) + ":" + (num(f.line) == null ? "?" : num(f.line)) : "?";
  }).join("\n");
  return li;
}
