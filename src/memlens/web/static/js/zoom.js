// What range the chart shows: the time window buttons, drag to zoom, panning.

import { WINDOWS } from "./constants.js";
import { currentRange, needRender, renderNow } from "./render.js";
import { state, store } from "./state.js";

// Shift the visible range by `fraction` of its width, within the data held.
export function pan(fraction) {
  var times = store.times, n = times.length;
  if (!n) return;
  var range = currentRange(), span = range[1] - range[0];
  var first = times[0], last = times[n - 1];
  if (span >= last - first) return;
  var lo = Math.min(Math.max(range[0] + span * fraction, first), last - span);
  setZoom([lo, lo + span]);
}

document.addEventListener("keydown", function (e) {
  if (e.target && /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
  if (e.key === "ArrowLeft") { pan(-0.25); e.preventDefault(); }
  else if (e.key === "ArrowRight") { pan(0.25); e.preventDefault(); }
});

export function onSelect(u) {
  var sel = u.select;
  if (sel.width < 4) return;
  var lo = u.posToVal(sel.left, "x"), hi = u.posToVal(sel.left + sel.width, "x");
  u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
  if (hi - lo > 0.5) setZoom([lo, hi]);
}

export function setZoom(z) {
  state.zoom = z;
  document.getElementById("reset-zoom").hidden = !z;
  needRender();
}

var windowButtons = Array.prototype.slice.call(document.querySelectorAll("button[data-window]"));
export function selectWindow(key) {
  if (!(key in WINDOWS)) key = "600";
  state.windowKey = key;
  windowButtons.forEach(function (b) { b.setAttribute("aria-pressed", b.getAttribute("data-window") === key ? "true" : "false"); });
  state.zoom = null;
  document.getElementById("reset-zoom").hidden = true;
}

windowButtons.forEach(function (btn) {
  btn.addEventListener("click", function () {
    selectWindow(btn.getAttribute("data-window"));
    renderNow();
  });
});
document.getElementById("reset-zoom").addEventListener("click", function () { setZoom(null); });
