// The header's target chips and recording name, the exit banner, the chart's subtitle and
// the footer.

import { exitNote } from "./cards.js";
import { colorOf } from "./chart.js";
import { detailLoading } from "./detail.js";
import { fmtClock, fmtDateTime, fmtDuration, fmtInterval, fmtSpan, fmtThousands, sameDay } from "./format.js";
import { state, store, ui } from "./state.js";
import { labelOf } from "./targets.js";
import { setText } from "./util.js";

var chipsEl = document.getElementById("target-chips");
var bannerEl = document.getElementById("exit-banner");
var bannerDetail = document.getElementById("exit-banner-detail");
var chartSub = document.getElementById("chart-sub");
var footInfo = document.getElementById("foot-info");
var chipsSig = "";

// The chips are drawn again on the next render (their colours changed).
export function resetChips() { chipsSig = ""; }

export function updateChrome(range, plotted, downsampled) {
  // target chips
  var sig = "";
  state.targets.forEach(function (rec) { sig += rec.key + "|" + rec.state + "|" + labelOf(rec) + ";"; });
  sig += ui.theme.dark;
  if (sig !== chipsSig) {
    chipsSig = sig;
    chipsEl.textContent = "";
    state.targets.forEach(function (rec) {
      var li = document.createElement("li");
      li.className = "chip";
      li.setAttribute("data-key", rec.key);
      li.setAttribute("data-state", rec.state === "exited" ? "exited" : "running");
      var dot = document.createElement("span");
      dot.className = "chip-dot";
      dot.style.background = colorOf(rec.key);
      var txt = document.createElement("span");
      txt.textContent = labelOf(rec) + (rec.state === "exited" ? " · exited" : "");
      li.title = rec.cmdline || labelOf(rec);
      li.appendChild(dot);
      li.appendChild(txt);
      chipsEl.appendChild(li);
    });
    if (!state.targets.size) {
      var li = document.createElement("li");
      li.className = "chip chip-empty";
      li.textContent = state.connected ? "no targets yet" : "";
      if (state.connected) chipsEl.appendChild(li);
    }
  }

  // exit banner
  var exited = [];
  state.targets.forEach(function (rec) { if (rec.state === "exited") exited.push(rec); });
  bannerEl.hidden = exited.length === 0;
  if (exited.length) {
    setText(bannerDetail, exited.map(function (rec) { return labelOf(rec) + " " + exitNote(rec); }).join(" · "));
  }

  // subtitle
  var n = store.times.length;
  var sub;
  if (!n) sub = state.connected ? "waiting for the first sample…" : "waiting for data…";
  else {
    var span = range[1] - range[0];
    sub = (state.zoom ? "zoomed: " : "") + fmtSpan(range[0], range[1]) +
      " (" + fmtDuration(span) + ", " + fmtThousands(plotted) + (downsampled ? " points, downsampled" : " samples") + ")";
    if (detailLoading()) sub += " · loading detail…";
    else if (downsampled && !state.zoom) sub += " · drag to zoom in for detail";
  }
  setText(chartSub, sub);
  chartSub.setAttribute("data-downsampled", downsampled ? "true" : "false");

  var foot = "memlens" + (state.version ? " " + state.version : "");
  if (state.protocol != null) foot += " · protocol " + state.protocol;
  if (state.mode === "recording") {
    foot += " · recording" + (state.recording ? " #" + state.recording.id : "") + " · sampled every " + fmtInterval(state.interval);
  } else {
    foot += " · sampling every " + fmtInterval(state.interval) + " · " + state.ticks + " ticks";
    if (state.recording) foot += " · recording to the store (#" + state.recording.id + ")";
  }
  setText(footInfo, foot);
}

var recInfoEl = document.getElementById("rec-info");
var recNameEl = document.getElementById("rec-name");
var recSpanEl = document.getElementById("rec-span");

export function updateRecordingInfo() {
  var r = state.recording;
  var show = state.mode === "recording" && !!r;
  recInfoEl.hidden = !show;
  if (!show) { document.title = "memlens"; return; }
  var name = r.name ? String(r.name) : "recording " + r.id;
  setText(recNameEl, name);
  recNameEl.title = "recording #" + r.id;
  var started = +r.started, ended = r.ended == null ? null : +r.ended;
  var span = "";
  if (started > 0) {
    span = fmtDateTime(started) + " \u2192 ";
    if (ended != null && ended > 0) {
      span += (sameDay(new Date(started * 1000), new Date(ended * 1000)) ? fmtClock(ended) : fmtDateTime(ended)) +
        " \u00b7 " + fmtDuration(ended - started);
    } else {
      span += "not ended";
    }
    recSpanEl.title = new Date(started * 1000).toString() + (ended ? " \u2192 " + new Date(ended * 1000).toString() : "");
  }
  setText(recSpanEl, span);
  document.title = name + " \u00b7 memlens";
}
