// The header's target chips (or, past a few targets, their count and picker: picker.js)
// and recording name, the exit banner, the chart's subtitle and the footer.

import { refitBanners } from "./alerts.js";
import { exitNote, openDetail } from "./cards.js";
import { colorOf } from "./chart.js";
import { detailLoading } from "./detail.js";
import { fmtClock, fmtDateTime, fmtDuration, fmtInterval, fmtSpan, fmtThousands, sameDay } from "./format.js";
import { updatePicker } from "./picker.js";
import { needRender } from "./render.js";
import { state, store, ui, view } from "./state.js";
import { repaintTable } from "./table.js";
import { chipsMode, togglePin } from "./tabledata.js";
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

function chipOf(rec, pinned) {
  var li = document.createElement("li");
  li.className = "chip";
  li.setAttribute("data-key", rec.key);
  li.setAttribute("data-state", rec.state === "exited" ? "exited" : "running");
  if (pinned) li.setAttribute("data-pinned", "true");
  var dot = document.createElement("span");
  dot.className = "chip-dot";
  dot.style.background = colorOf(rec.key);
  var txt = document.createElement("span");
  txt.textContent = labelOf(rec) + (rec.state === "exited" ? " \u00b7 exited" : "");
  li.title = rec.cmdline || labelOf(rec);
  li.appendChild(dot);
  li.appendChild(txt);
  if (pinned) {
    var un = document.createElement("button");
    un.type = "button";
    un.className = "chip-unpin";
    un.textContent = "\u00d7";
    un.setAttribute("aria-label", "Unpin " + labelOf(rec));
    un.addEventListener("click", function (e) { e.stopPropagation(); togglePin(rec.key); repaintTable(); needRender(); });
    li.appendChild(un);
    li.classList.add("chip-link");
    li.addEventListener("click", function () { openDetail(rec.key); });
  }
  return li;
}

var PINNED_CHIPS = 3;    // pinned targets shown as chips beside the count; the rest as "+n"
var EXITED_NAMED = 3;    // exited targets the banner names; the rest are counted

export function updateChrome(range, plotted, downsampled) {
  // target chips: one per target while they are few, else a count, its picker and the
  // pinned targets' chips (the header stays one line high whatever the number)
  var few = chipsMode();
  updatePicker(!few);
  var shown = [];
  if (few) state.targets.forEach(function (rec) { shown.push(rec); });
  else view.pinned.forEach(function (key) { var rec = state.targets.get(key); if (rec) shown.push(rec); });
  var sig = few ? "all" : "pinned";
  shown.forEach(function (rec) { sig += rec.key + "|" + rec.state + "|" + labelOf(rec) + ";"; });
  sig += ui.theme.dark + "|" + state.connected;
  if (sig !== chipsSig) {
    chipsSig = sig;
    chipsEl.textContent = "";
    shown.slice(0, few ? shown.length : PINNED_CHIPS).forEach(function (rec) { chipsEl.appendChild(chipOf(rec, !few)); });
    if (!few && shown.length > PINNED_CHIPS) {
      var more = document.createElement("li");
      more.className = "chip chip-more";
      more.textContent = "+" + (shown.length - PINNED_CHIPS) + " pinned";
      more.title = shown.slice(PINNED_CHIPS).map(labelOf).join("\n");
      chipsEl.appendChild(more);
    }
    if (!state.targets.size && state.connected) {
      var li = document.createElement("li");
      li.className = "chip chip-empty";
      li.textContent = "no targets yet";
      chipsEl.appendChild(li);
    }
  }

  // exit banner: the first few exited targets by name, the others counted
  var exited = [];
  state.targets.forEach(function (rec) { if (rec.state === "exited") exited.push(rec); });
  if (bannerEl.hidden !== (exited.length === 0)) {
    bannerEl.hidden = exited.length === 0;
    refitBanners();
  }
  if (exited.length) {
    var named = exited.slice(0, EXITED_NAMED).map(function (rec) { return labelOf(rec) + " " + exitNote(rec); });
    if (exited.length > EXITED_NAMED) named.push("and " + fmtThousands(exited.length - EXITED_NAMED) + " more");
    setText(bannerDetail, named.join(" \u00b7 "));
    bannerDetail.title = exited.length > EXITED_NAMED ? exited.map(labelOf).join("\n") : "";
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
