// The Python panel drawn for the visible range: which process, the switch's state, the
// charts and the figures; the heap profile (heap.js) and the tables (tables.js).

import { colorOf } from "../chart.js";
import { DASH, fmtBytes, fmtDuration, fmtSignedCount, fmtThousands } from "../format.js";
import { pyDestroyCharts, pyMakeCharts, pyView } from "./charts.js";
import { pyEligible, pyFrames, pyOf, pyTracing } from "./data.js";
import { pyEl, pyPanel } from "./elements.js";
import { renderHeap } from "./heap.js";
import { renderObjects } from "./objects.js";
import { renderPauses, renderTop } from "./tables.js";
import { py, state, ui } from "../state.js";
import { labelOf } from "../targets.js";
import { setAttr, setText } from "../util.js";

function pyTargets() {
  var out = [];
  state.targets.forEach(function (rec) { if (pyEligible(rec)) out.push(rec); });
  return out;
}

export function renderPython(range) {
  var list = pyTargets();
  if (!list.length) {
    if (!pyPanel.hidden) { pyPanel.hidden = true; pyDestroyCharts(); }
    setAttr(pyPanel, "data-key", null);
    return;
  }
  var rec = py.key ? state.targets.get(py.key) : null;
  if (!rec || !pyEligible(rec)) {
    rec = null;
    list.forEach(function (r) { if (!rec || (rec.state === "exited" && r.state !== "exited")) rec = r; });
    py.key = rec.key;
  }
  var ps = pyOf(rec);
  pyPanel.hidden = false;
  setAttr(pyPanel, "data-key", rec.key);
  setAttr(pyPanel, "data-state", rec.state === "exited" ? "exited" : "running");
  pyPanel.style.setProperty("--series", colorOf(rec.key));

  // which process
  var sig = list.map(function (r) { return r.key + "|" + labelOf(r) + "|" + r.state; }).join(";");
  if (sig !== py.optionsSig) {
    py.optionsSig = sig;
    pyEl.select.textContent = "";
    list.forEach(function (r) {
      var o = document.createElement("option");
      o.value = r.key;
      o.textContent = labelOf(r) + (r.state === "exited" ? " \u00b7 exited" : "");
      pyEl.select.appendChild(o);
    });
  }
  if (pyEl.select.value !== rec.key) pyEl.select.value = rec.key;
  pyEl.selectWrap.hidden = list.length < 2;
  setText(pyEl.target, labelOf(rec));

  // the agent and the switch
  var tracing = pyTracing(rec, ps), frames = pyFrames(rec, ps);
  var live = state.mode !== "recording", exited = rec.state === "exited";
  var info = [];
  if (rec.python && rec.python.python) info.push("Python " + rec.python.python);
  if (rec.python && rec.python.address) info.push("agent at " + rec.python.address);
  info.push(tracing ? "allocations traced" + (frames ? " (" + frames + " frame" + (frames === 1 ? "" : "s") + ")" : "") : "allocations not traced");
  setText(pyEl.info, info.join(" \u00b7 "));
  setAttr(pyPanel, "data-tracing", tracing ? "true" : "false");
  pyEl.tools.hidden = !live;
  setAttr(pyEl.toggle, "data-tracing", tracing ? "true" : "false");
  setText(pyEl.toggle, ps.busy ? (tracing ? "Stopping\u2026" : "Starting\u2026") : tracing ? "Stop tracing" : "Trace Python allocations");
  pyEl.toggle.disabled = ps.busy || exited || !rec.python;
  pyEl.toggle.title = exited ? "the process has exited" : !rec.python ? "no agent to ask" : "";
  pyEl.frames.disabled = tracing || ps.busy || exited;
  if (tracing && frames && pyEl.frames.querySelector('option[value="' + frames + '"]')) pyEl.frames.value = String(frames);
  pyEl.error.hidden = !ps.error;
  setText(pyEl.error, ps.error);

  var note = "";
  if (!tracing) {
    note = !live ? "Python allocations were not traced at this point of the recording."
      : exited ? "The process has exited."
      : "Python allocations are not traced, so the traced heap and the growing allocation sites are unknown. " +
        "Tracing (tracemalloc) costs the program some speed and memory while it is on.";
  }
  pyEl.note.hidden = !note;
  setText(pyEl.note, note);

  // charts
  if (!py.heapChart || py.chartKey !== rec.key) pyMakeCharts(rec);
  var lo = ui.range ? ui.range[0] : range[0], hi = ui.range ? ui.range[1] : range[1];
  var view = pyView(ps, lo, hi);
  var dsig = rec.key + "|" + ps.version + "|" + lo + "|" + hi + "|" + ui.theme.dark;
  if (dsig !== py.dataSig) {
    py.dataSig = dsig;
    py.heapChart.setData([view.t, view.rss, view.heap]);
    py.gcChart.setData([view.t, view.perSample, view.blocks]);
  }
  setAttr(pyEl.heapChart, "data-heap-points", String(view.heapPoints));
  setAttr(pyPanel, "data-heap-points", String(view.heapPoints));

  // RSS - traced heap
  var l = ps.latest;
  var gap = l.rss != null && l.py_heap != null ? l.rss - l.py_heap : null;
  setAttr(pyEl.gap, "data-bytes", gap == null ? null : String(Math.round(gap)));
  setText(pyEl.gapValue, gap == null ? DASH : fmtBytes(gap));
  pyEl.gap.title = gap == null ? "known while Python allocations are traced" : "RSS " + fmtBytes(l.rss) + " \u2212 traced heap " + fmtBytes(l.py_heap);
  var figs = "";
  if (l.py_heap != null) {
    figs = "traced heap " + fmtBytes(l.py_heap) + (l.py_heap_peak != null ? " (peak " + fmtBytes(l.py_heap_peak) + ")" : "") +
      " \u00b7 RSS " + fmtBytes(l.rss) + (l.rss > 0 ? " \u00b7 Python sees " + Math.round(100 * l.py_heap / l.rss) + "% of it" : "");
  }
  setText(pyEl.figures, figs);
  pyEl.figures.hidden = !figs;

  // gc and objects
  var span = view.t.length ? Math.max(view.t[view.t.length - 1] - view.t[0], 0) : 0;
  var collected = null;
  for (var i = 1; i < view.t.length; i++) if (view.perSample[i] != null) collected = (collected || 0) + view.perSample[i];
  setText(pyEl.collections, l.gc_collections == null ? DASH : fmtThousands(l.gc_collections) +
    (collected != null && span > 0 ? " \u00b7 +" + fmtThousands(collected) + " in view" : ""));
  setText(pyEl.uncollectable, l.gc_uncollectable == null ? DASH : fmtThousands(l.gc_uncollectable));
  setAttr(pyEl.uncollectable, "data-warn", l.gc_uncollectable > 0 ? "true" : null);
  var trend = null, trendText = "";
  if (view.firstBlocks && view.lastBlocks && view.lastBlocks.t > view.firstBlocks.t) {
    trend = view.lastBlocks.v - view.firstBlocks.v;
    var per = trend / (view.lastBlocks.t - view.firstBlocks.t) * 60;
    trendText = " \u00b7 " + fmtSignedCount(trend) + " in " + fmtDuration(view.lastBlocks.t - view.firstBlocks.t) +
      " (" + fmtSignedCount(per) + "/min)";
  }
  setText(pyEl.blocks, l.py_blocks == null ? DASH : fmtThousands(l.py_blocks) + trendText);
  setAttr(pyEl.blocks, "data-trend", trend == null ? null : trend > 0 ? "up" : trend < 0 ? "down" : "flat");

  renderPauses(ps);
  renderHeap(rec, ps, live);
  renderTop(ps, tracing, live);
  renderObjects(ps);
}
