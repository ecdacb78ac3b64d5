// The "look inside" button of a Python process's card: after the person says yes, the
// server attaches memlens's agent to the running process (POST api/python/attach, with
// the dashboard's token, as every request); the Python panel appears once the sampler
// finds the agent, as for any agent. docs/attach.md says what the process goes through.

import { needRender } from "./render.js";
import { state } from "./state.js";
import { apiUrl } from "./url.js";
import { setText } from "./util.js";

var busy = new Map();   // key -> "asking" | "attached" | error text

export function refreshAttach(rec) {
  var c = rec.card;
  if (!c || !c.attach) return;
  var show = rec.kind === "process" && !!rec.attachable && !rec.python &&
    rec.state !== "exited" && state.mode !== "recording";
  c.attach.hidden = !show;
  if (!show) return;
  var st = busy.get(rec.key);
  c.attachButton.disabled = st === "asking" || st === "attached";
  setText(c.attachNote, st === "asking" ? "attaching…"
    : st === "attached" ? "attached; the Python panel follows in a moment"
    : st || "");
}

export function wireAttach(rec) {
  var c = rec.card;
  c.attach = c.root.querySelector('[data-role="attach"]');
  c.attachButton = c.root.querySelector('[data-role="attach-button"]');
  c.attachNote = c.root.querySelector('[data-role="attach-note"]');
  c.attachButton.addEventListener("click", function () {
    var question = "Look inside PID " + rec.pid + "? memlens starts its agent inside the " +
      "running process: the process stops for a moment (about a third of a second) and " +
      "then runs on with the agent.";
    if (!window.confirm(question)) return;
    busy.set(rec.key, "asking");
    refreshAttach(rec);
    fetch(apiUrl("api/python/attach"), {
      method: "POST",
      cache: "no-store",
      credentials: "same-origin",
      headers: { "content-type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ target: rec.key }),
    })
      .then(function (r) {
        return r.json().catch(function () { return null; }).then(function (answer) {
          var why = answer && typeof answer.error === "string" ? answer.error : "HTTP " + r.status;
          busy.set(rec.key, r.ok ? "attached" : "Not attached: " + why);
        });
      })
      .catch(function (e) { busy.set(rec.key, "The server did not answer (" + (e && e.message ? e.message : "network error") + ")."); })
      .then(function () { refreshAttach(rec); needRender(); });
  });
}
