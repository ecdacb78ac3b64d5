// The watched targets: their records, made from the server's Target objects or guessed
// from a key the page has not been told about yet.

import { createCard, refreshCardStatic } from "./cards.js";
import { addChartSeries, chartHasSeries } from "./chart.js";
import { refreshTargetsSoon } from "./http.js";
import { state } from "./state.js";
import { ensureCol } from "./store.js";

export function fieldIndex(name) { return state.fields.indexOf(name); }

export function labelOf(tg) {
  if (tg.kind === "sum") return "total (pid " + tg.pid + " + children)";
  return (tg.name || "?") + " (pid " + tg.pid + ")";
}

function guessTarget(key) {
  var isSum = key.indexOf("sum-") === 0;
  var pid = parseInt(isSum ? key.slice(4) : key, 10);
  return {
    key: key, kind: isSum ? "sum" : "process", pid: isFinite(pid) ? pid : "?", name: isSum ? "total" : "pid " + pid,
    cmdline: "", parent: null, members: [], state: "running", exit_time: null, exit_code: null, exit_reason: null,
    python: null,
  };
}

// Create or update a target from a Target object; returns the record.
export function upsertTarget(t) {
  if (!t || typeof t.key !== "string") return null;
  var rec = state.targets.get(t.key);
  var isNew = !rec;
  if (isNew) {
    rec = { key: t.key, latest: { t: -Infinity, rss: null, threads: null, fds: null, cpu: null }, card: null, guessed: false };
    state.targets.set(t.key, rec);
  }
  // an update (a `target` message for a known key) replaces what it carries
  ["kind", "pid", "start_time", "name", "cmdline", "parent", "ppid", "group", "members", "state", "exit_time", "exit_code", "exit_reason", "python", "attachable"]
    .forEach(function (f) { if (f in t) rec[f] = t[f]; });
  rec.attachable = rec.attachable === true;
  if (rec.python != null && typeof rec.python !== "object") rec.python = null;
  if (rec.python) rec.python = Object.assign({}, rec.python);
  if (rec.state !== "exited") rec.state = "running";
  rec.guessed = !!t._guessed;
  if (ensureCol(rec.key) || !chartHasSeries(rec.key)) addChartSeries(rec.key);
  if (!rec.card) createCard(rec);
  refreshCardStatic(rec);
  return rec;
}

export function targetFor(key) {
  var rec = state.targets.get(key);
  if (rec) return rec;
  var g = guessTarget(key);
  g._guessed = true;
  refreshTargetsSoon();
  return upsertTarget(g);
}

export function noteLatest(rec, t, vals) {
  if (t < rec.latest.t) return;
  rec.latest.t = t;
  rec.latest.rss = vals.rss;
  rec.latest.threads = vals.threads;
  rec.latest.fds = vals.fds;
  rec.latest.cpu = vals.cpu;
}
