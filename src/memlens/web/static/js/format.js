// Numbers, sizes and times as people read them: 1024-based bytes ("1.5 MB"), local clock
// times, durations, and the labels of the charts' axes.
//
// One file for every page that shows bytes: the dashboard imports it as a module, and the
// self-contained pages (the HTML export, the report, the tracker's page) inline it as a
// classic script, its `export` keywords taken out (memlens/formats/assets.py). So it
// imports nothing, touches no page, and declares only with `export function` and
// `export var` or without export.
"use strict";

var UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];
export var DASH = "\u2013";             // shown for unknown values
var MINUS = "\u2212";

export function fmtBytes(v) {
  if (v == null || !isFinite(v)) return DASH;
  var neg = v < 0, a = Math.abs(v), i = 0;
  while (a >= 1024 && i < UNITS.length - 1) { a /= 1024; i++; }
  if (i === 0) return (neg ? "-" : "") + Math.round(a) + " B";
  var s = a.toFixed(1);
  if (s === "1024.0" && i < UNITS.length - 1) { s = "1.0"; i++; }
  return (neg ? "-" : "") + s + " " + UNITS[i];
}

function pad2(n) { return n < 10 ? "0" + n : "" + n; }

export function fmtClock(t) {
  var d = new Date(t * 1000);
  return pad2(d.getHours()) + ":" + pad2(d.getMinutes()) + ":" + pad2(d.getSeconds());
}

var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

function fmtDay(d) { return MONTHS[d.getMonth()] + " " + d.getDate(); }

export function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

// "14:02:11", or "Nov 20 14:02:11" when not today
export function fmtWhen(t) {
  var d = new Date(t * 1000);
  return sameDay(d, new Date()) ? fmtClock(t) : fmtDay(d) + " " + fmtClock(t);
}

// "14:02:11 – 14:12:11"; dates on both ends when the range crosses a day
export function fmtSpan(lo, hi) {
  if (sameDay(new Date(lo * 1000), new Date(hi * 1000))) return fmtWhen(lo) + " \u2013 " + fmtClock(hi);
  return fmtDateTime(lo) + " \u2013 " + fmtDateTime(hi);
}

export function fmtDuration(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + pad2(s % 60) + " s";
  if (s < 86400) return Math.floor(s / 3600) + " h " + pad2(Math.floor(s % 3600 / 60)) + " min";
  return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
}

export function fmtInterval(s) {
  if (s >= 1) return (Math.round(s * 10) / 10) + " s";
  return Math.round(s * 1000) + " ms";
}

export function fmtCount(v) { return v == null || !isFinite(v) ? DASH : String(Math.round(v)); }

// 12345 -> "12,345"
export function fmtThousands(n) { return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

// "Nov 20 14:02:11", the year added when it is not this one
export function fmtDateTime(t) {
  var d = new Date(t * 1000);
  var year = d.getFullYear() !== new Date().getFullYear() ? " " + d.getFullYear() : "";
  return fmtDay(d) + year + " " + fmtClock(t);
}

export function fmtCpu(v) {
  if (v == null || !isFinite(v)) return DASH;
  return (v >= 100 ? Math.round(v) : v.toFixed(1)) + " %";
}

// y axis: every label in the unit of the largest tick, decimals from the step
export function fmtBytesAxis(u, splits, axisIdx, space, incr) {
  var top = 0;
  for (var i = 0; i < splits.length; i++) top = Math.max(top, Math.abs(splits[i]));
  var p = 0;
  while (top >= 1024 && p < UNITS.length - 1) { top /= 1024; p++; }
  var div = Math.pow(1024, p);
  var step = incr / div;
  var dec = step >= 1 || p === 0 ? 0 : Math.min(3, Math.ceil(-Math.log10(step) - 1e-9));
  return splits.map(function (v) {
    if (v === 0) return "0";
    return (v / div).toFixed(dec) + " " + UNITS[p];
  });
}

// x axis: local time, 24-hour clock; the date on the first tick and where the day changes
export function fmtTimeAxis(u, splits, axisIdx, space, incr) {
  var prev = null;
  return splits.map(function (t) {
    var d = new Date(t * 1000);
    var label;
    if (incr >= 86400) label = fmtDay(d);
    else if (incr >= 60 && d.getSeconds() === 0) label = pad2(d.getHours()) + ":" + pad2(d.getMinutes());
    else label = fmtClock(t);
    if (incr < 86400 && (prev === null || !sameDay(prev, d))) label += "\n" + fmtDay(d);
    prev = d;
    return label;
  });
}

export var BYTE_INCRS = (function () {
  var out = [], mults = [1, 2, 5, 10, 20, 50, 100, 200, 500];
  for (var p = 0; p < UNITS.length; p++) {
    for (var i = 0; i < mults.length; i++) out.push(mults[i] * Math.pow(1024, p));
  }
  return out;
})();

// counts: every label in the unit of the largest tick (k, M), decimals from the step
export function fmtCountAxis(u, splits, axisIdx, space, incr) {
  var top = 0;
  for (var i = 0; i < splits.length; i++) top = Math.max(top, Math.abs(splits[i]));
  var div = top >= 1e6 ? 1e6 : top >= 1e4 ? 1e3 : 1, unit = div === 1e6 ? "M" : div === 1e3 ? "k" : "";
  var step = (incr || 1) / div;
  var dec = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step) - 1e-9));
  return splits.map(function (v) {
    if (v === 0) return "0";
    return div === 1 && dec === 0 ? fmtThousands(v) : (v / div).toFixed(dec) + unit;
  });
}

export var COUNT_INCRS = (function () {
  var out = [];
  for (var p = 0; p < 10; p++) [1, 2, 5].forEach(function (m) { out.push(m * Math.pow(10, p)); });
  return out;
})();

export function fmtSignedBytes(v) {
  if (v == null || !isFinite(v)) return DASH;
  if (v === 0) return "\u00b10 B";
  return (v > 0 ? "+" : MINUS) + fmtBytes(Math.abs(v));
}

export function fmtSignedCount(v) {
  if (v == null || !isFinite(v)) return "";
  return (v > 0 ? "+" : v < 0 ? MINUS : "\u00b1") + fmtThousands(Math.abs(v));
}

export function fmtMs(s) {
  if (s == null || !isFinite(s)) return DASH;
  var ms = s * 1000;
  return (ms >= 100 ? Math.round(ms) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)) + " ms";
}

export function fmtPercent(v) { return v == null || !isFinite(v) ? DASH : (+v).toFixed(1) + " %"; }
export function fmtRate(v) { return v == null || !isFinite(v) ? DASH : fmtBytes(v) + "/s"; }
