// The switch that turns tracemalloc on and off in the target, through the server.

import { pyOf, pyTracing } from "./data.js";
import { pyEl } from "./elements.js";
import { needRender, renderNow } from "../render.js";
import { py, state } from "../state.js";
import { apiUrl } from "../url.js";
import { num } from "../util.js";

function pyErrorText(status, body) {
  var why = body && typeof body.error === "string" && body.error ? ": " + body.error : "";
  if (status === 409) return "The agent refused" + why + " (the program runs tracemalloc itself; memlens leaves it alone).";
  if (status === 503) return "The agent does not answer" + why + ".";
  if (status === 404) return "This process has no Python agent any more" + why + ".";
  return "The server refused the request (HTTP " + status + ")" + why + ".";
}

function pySetTracing(rec, on) {
  var ps = pyOf(rec);
  if (ps.busy) return;
  var frames = parseInt(pyEl.frames.value, 10) || 1;
  var body = on ? { target: rec.key, on: true, frames: frames } : { target: rec.key, on: false };
  ps.busy = true;
  ps.error = "";
  needRender();
  fetch(apiUrl("api/python/tracemalloc"), {
    method: "POST",
    cache: "no-store",
    credentials: "same-origin",
    headers: { "content-type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  })
    .then(function (r) {
      return r.json().catch(function () { return null; }).then(function (answer) {
        if (!r.ok) { ps.error = pyErrorText(r.status, answer); return; }
        var tracing = !!(answer && answer.tracing);
        ps.pending = { tracing: tracing, until: Date.now() + Math.max(3000, state.interval * 4000) };
        ps.frames = tracing ? (num(answer.frames) || frames) : 0;
        ps.since = tracing && answer && num(answer.since) != null ? +answer.since : null;
        if (rec.python) { rec.python.tracing = tracing; rec.python.frames = ps.frames; }
        if (tracing !== on) ps.error = "The agent answered that tracing is " + (tracing ? "on" : "off") + ".";
      });
    })
    .catch(function (e) { ps.error = "The server did not answer (" + (e && e.message ? e.message : "network error") + ")."; })
    .then(function () { ps.busy = false; needRender(); });
}

pyEl.toggle.addEventListener("click", function () {
  var rec = py.key ? state.targets.get(py.key) : null;
  if (!rec) return;
  pySetTracing(rec, !pyTracing(rec, pyOf(rec)));
});

pyEl.select.addEventListener("change", function () {
  py.key = pyEl.select.value || null;
  renderNow();
});
