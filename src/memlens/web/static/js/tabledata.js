// The rows of the targets' table (table.js) and the header's picker (picker.js): one per
// target with the figures they show and sort by, how a search narrows them, and in which
// order they stand. No DOM here: the figures are worked out from the store's columns and
// the alerts the page already holds, so the table and the picker agree on every row.

import { alerts, state, view } from "./state.js";

// Past this many targets the page shows a table instead of a card per target, and the
// header a count and a picker instead of a chip per target.
export var TABLE_MIN = 9;
export var CHIPS_MAX = 6;

export function tableMode() { return state.targets.size >= TABLE_MIN; }
export function chipsMode() { return state.targets.size <= CHIPS_MAX; }

var SEVERITIES = ["low", "medium", "high", "critical"];

// The columns, in order. dir: the direction a first click sorts in (the biggest first
// for figures, A to Z for words).
export var COLUMNS = [
  { id: "name", label: "name", dir: "ascending", title: "The process's name; totals (a process and its children) stay on top" },
  { id: "pid", label: "PID", dir: "ascending", num: true },
  { id: "group", label: "group", dir: "ascending", title: "The group the process belongs to (the watch's --group-by; by name unless told otherwise)" },
  { id: "rss", label: "RSS", dir: "descending", num: true, title: "Resident memory at the newest sample" },
  { id: "growth", label: "growth", dir: "descending", num: true,
    title: "Growth over the chart's visible window: RSS at the newest sample in the window minus RSS at the oldest" },
  { id: "leak", label: "leak", dir: "descending", title: "The leak detector's verdict: a leak in force (by severity), or growing" },
  { id: "trend", label: "trend", dir: "descending", num: true,
    title: "RSS over the chart's visible window, on a scale of its own; sorts by growth relative to where it started" },
  { id: "threads", label: "threads", dir: "descending", num: true },
  { id: "fds", label: "fds", dir: "descending", num: true, title: "Open file descriptors" },
];

function severityOf(msg) {
  var s = msg.severity || (msg.finding && msg.finding.severity);
  return SEVERITIES.indexOf(s) >= 0 ? s : "medium";
}

// What the leak detector says of a target now: {level: "leak" | "growing" | null,
// severity, rank (for sorting: none < growing < low < ... < critical), text, title}.
export function leakOf(key) {
  var leak = alerts.latest.get("leak|" + key);
  if (leak && leak.msg.state !== "cleared") {
    var sev = severityOf(leak.msg);
    return { level: "leak", severity: sev, rank: 2 + SEVERITIES.indexOf(sev), text: "leak \u00b7 " + sev,
      title: typeof leak.msg.text === "string" ? leak.msg.text : "" };
  }
  var grow = alerts.latest.get("growing|" + key);
  if (grow && grow.msg.state !== "cleared") {
    return { level: "growing", severity: null, rank: 1, text: "growing",
      title: typeof grow.msg.text === "string" ? grow.msg.text : "" };
  }
  return { level: null, severity: null, rank: 0, text: "", title: "" };
}

export function groupOf(rec) { return String(rec.group || rec.name || ""); }

// The rows for the visible window [i0, i1) of the columns colOf gives (render.js's view).
export function buildRows(colOf, i0, i1) {
  var rows = [];
  state.targets.forEach(function (rec) {
    var col = colOf ? colOf(rec.key) : null;
    var first = null, last = null, a, b;
    if (col) {
      for (a = i0; a < i1; a++) if (col[a] != null) { first = col[a]; break; }
      for (b = i1 - 1; b >= a; b--) if (col[b] != null) { last = col[b]; break; }
    }
    var growth = first != null && last != null ? last - first : null;
    var leak = leakOf(rec.key);
    rows.push({
      key: rec.key,
      rec: rec,
      sum: rec.kind === "sum",
      name: String(rec.kind === "sum" ? "total" : rec.name || "?"),
      pid: typeof rec.pid === "number" ? rec.pid : null,
      group: groupOf(rec),
      cmd: String(rec.cmdline || ""),
      rss: rec.latest.rss != null ? rec.latest.rss : last,
      growth: growth,
      trend: growth != null && first > 0 ? growth / first : null,
      leak: leak,
      threads: rec.latest.threads,
      fds: rec.latest.fds,
      exited: rec.state === "exited",
      col: col, i0: i0, i1: i1,
    });
  });
  return rows;
}

// A search: words that must all match the name, the PID, the group or the command line
// (case-insensitive; a PID from its first digit). A search that is one number and is
// some target's PID finds that process alone, not every PID or command line holding it.
export function filterRows(rows, query) {
  var q = String(query || "").trim().toLowerCase();
  if (!q) return rows;
  if (/^\d+$/.test(q)) {
    var pid = +q;
    var exact = rows.filter(function (r) { return r.pid === pid; });
    if (exact.length) return exact;
  }
  var words = q.split(/\s+/);
  return rows.filter(function (r) {
    var hay = (r.name + "\n" + r.group + "\n" + r.cmd).toLowerCase(), pidText = r.pid == null ? "" : String(r.pid);
    for (var i = 0; i < words.length; i++) {
      var w = words[i];
      if (pidText.indexOf(w) !== 0 && hay.indexOf(w) < 0) return false;
    }
    return true;
  });
}

function valueOf(row, col) {
  if (col === "leak") return row.leak.rank;
  return row[col];
}

// Sorts rows in place by a column: totals first, then the column (unknown figures last
// in either direction), then name and PID so equal rows keep still between updates.
export function sortRows(rows, col, dir) {
  var sign = dir === "descending" ? -1 : 1;
  var text = !COLUMNS.some(function (c) { return c.id === col && (c.num || c.id === "leak"); });
  rows.sort(function (x, y) {
    if (x.sum !== y.sum) return x.sum ? -1 : 1;
    var a = valueOf(x, col), b = valueOf(y, col), c = 0;
    var an = a == null || (!text && !isFinite(a)), bn = b == null || (!text && !isFinite(b));
    if (an !== bn) return an ? 1 : -1;
    if (!an) c = text ? String(a).localeCompare(String(b)) : a - b;
    if (c) return c * sign;
    return x.name.localeCompare(y.name) || (x.pid || 0) - (y.pid || 0) || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0);
  });
  return rows;
}

export function isPinned(key) { return view.pinned.has(key); }

export function togglePin(key) {
  if (view.pinned.has(key)) view.pinned.delete(key);
  else view.pinned.add(key);
}
