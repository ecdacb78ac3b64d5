// HTTP beside the socket: JSON from the API, gap fill after missed ticks, target refresh.

import { seriesToList } from "./messages.js";
import { needRender } from "./render.js";
import { state } from "./state.js";
import { lastTimeOf, mergeSeries } from "./store.js";
import { upsertTarget } from "./targets.js";
import { apiUrl } from "./url.js";

export function getJSON(path, signal) {
  var opts = { cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } };
  if (signal) opts.signal = signal;
  return fetch(apiUrl(path), opts)
    .then(function (r) {
      if (!r.ok) { var e = new Error("HTTP " + r.status); e.status = r.status; throw e; }
      return r.json();
    });
}

function applyTargets(body) {
  if (!body || !Array.isArray(body.targets)) return;
  body.targets.forEach(function (t) { upsertTarget(t); });
  needRender();
}

var targetsTimer = 0;
export function refreshTargetsSoon() {
  if (targetsTimer) return;
  targetsTimer = setTimeout(function () {
    targetsTimer = 0;
    getJSON("api/targets").then(applyTargets).catch(function () {});
  }, 250);
}

var gapPending = null;   // key -> since (smallest); null when nothing queued
var gapRunning = false;

// Called before the tick that revealed the gap is stored: remember, per target, the
// newest time we hold, and fetch everything after it.
export function requestGapFill() {
  if (!gapPending) gapPending = {};
  state.targets.forEach(function (rec) {
    var since = lastTimeOf(rec.key);
    var prev = gapPending[rec.key];
    if (prev === undefined) gapPending[rec.key] = since;
    else if (prev !== null && (since === null || since < prev)) gapPending[rec.key] = since;
  });
  if (!gapRunning) runGapFill();
}

function runGapFill() {
  if (!gapPending) { gapRunning = false; return; }
  gapRunning = true;
  var job = gapPending;
  gapPending = null;
  getJSON("api/targets").then(applyTargets).catch(function () {})
    .then(function () {
      // targets learnt from /api/targets that we held nothing for: fetch all they have
      state.targets.forEach(function (rec) { if (!(rec.key in job) && lastTimeOf(rec.key) === null) job[rec.key] = null; });
      return Promise.all(Object.keys(job).map(function (key) {
        var since = job[key];
        var path = "api/samples?target=" + encodeURIComponent(key) + (since != null ? "&since=" + encodeURIComponent(String(since)) : "");
        return getJSON(path).then(function (body) {
          if (!body || !body.series) return null;
          var map = {};
          map[key] = body.series;
          return seriesToList(map, key);
        }).catch(function () { return null; });
      }));
    })
    .then(function (lists) {
      var all = [];
      (lists || []).forEach(function (l) { if (l) all = all.concat(l); });
      if (all.length) mergeSeries(all, true);
      needRender();
    })
    .catch(function () {})
    .then(function () { runGapFill(); });
}
