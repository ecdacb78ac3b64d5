// The Python panel's heap profile: whether the agent's heap profiler runs (target.python.heap,
// from the agent's stats), its switch and marks (POST /api/python/heap), and the live flame
// graph of the bytes in use, or of their growth since a mark (GET /api/python/heap).
//
// The agent answers only when asked, and a profile costs the target some work, so one is
// asked for only while somebody looks: the page is visible, the panel shows this process,
// the graph is on screen and the profiler runs; then every HP_EVERY ms, one at a time.

import { DASH, fmtBytes, fmtClock, fmtWhen } from "../format.js";
import { flameCreate } from "../flamegraph.js";
import { flameVisible } from "../flametree.js";
import { pyEl, pyPanel } from "./elements.js";
import { needRender } from "../render.js";
import { py, state, ui } from "../state.js";
import { apiUrl } from "../url.js";
import { num, setAttr, setText } from "../util.js";

var HP_EVERY = 5000;        // ms between two profiles while the graph is looked at
var HP_LIMIT = 2000;        // stacks per profile
var HP_PENDING_MS = 4000;   // a switch's answer holds this long, unless a target update agrees

var hp = {
  flame: null,
  key: null,                // the process the graph is for
  onScreen: false,          // the section is in the viewport
  inflight: 0,              // request number in flight, 0 when none
  seq: 0,
  nextAt: 0,                // Date.now() when the next profile is due
  timer: 0,
};

function hpState(ps) {
  if (!ps.heap) ps.heap = { busy: false, error: "", view: "", profile: null, version: 0, pending: null, asked: 0 };
  return ps.heap;
}

// The profiler's status as known now: a switch's answer until the target says the same.
function hpStatus(rec, hs) {
  var told = rec.python && rec.python.heap && typeof rec.python.heap === "object" ? rec.python.heap : null;
  if (hs.pending && Date.now() < hs.pending.until && (!told || !!told.running !== !!hs.pending.status.running)) return hs.pending.status;
  hs.pending = null;
  return told;
}

function hpSamplerText(st) {
  if (!st || !st.running) return "";
  var s = st.sampler === "tracemalloc"
    ? "tracemalloc (every allocation, exact)" + (st.fallback_reason ? ": " + flameVisible(st.fallback_reason) : "")
    : "sampling, one sample per " + fmtBytes(num(st.interval_bytes)) + " allocated on average";
  if (num(st.max_frames)) s += " \u00b7 up to " + st.max_frames + " frames";
  if (num(st.since) != null) s += " \u00b7 since " + fmtWhen(+st.since);
  return s;
}

function hpMarks(st) {
  var marks = st && Array.isArray(st.marks) ? st.marks.filter(function (m) { return m && typeof m.name === "string"; }) : [];
  return marks.slice().sort(function (a, b) { return (num(b.time) || 0) - (num(a.time) || 0); });
}

function hpOptions(marks, view) {
  var sig = marks.map(function (m) { return m.name + "@" + m.time; }).join("|");
  if (pyEl.hpView.dataset.sig !== sig) {
    pyEl.hpView.dataset.sig = sig;
    pyEl.hpView.textContent = "";
    var now = document.createElement("option");
    now.value = "";
    now.textContent = "bytes in use now";
    pyEl.hpView.appendChild(now);
    marks.forEach(function (m) {
      var o = document.createElement("option");
      o.value = m.name;
      var clock = num(m.time) != null ? fmtClock(+m.time) : "";
      o.textContent = "growth since " + flameVisible(m.name) + (clock && m.name.indexOf(clock) < 0 ? " (" + clock + ")" : "");
      pyEl.hpView.appendChild(o);
    });
  }
  if (pyEl.hpView.value !== view) pyEl.hpView.value = view;
}

function hpFlame() {
  if (!hp.flame) hp.flame = flameCreate(pyEl.hpFlame, { dark: function () { return ui.theme.dark; } });
  return hp.flame;
}

export function renderHeap(rec, ps, live) {
  var hs = hpState(ps), st = hpStatus(rec, hs), exited = rec.state === "exited";
  pyEl.hp.hidden = !live;
  if (!live) return;
  if (hp.key !== rec.key) {   // another process: its own graph, from the top
    hp.key = rec.key;
    hpFlame().reset();
    hpFlame().setProfile(hs.profile);
    hp.nextAt = 0;
  }
  var running = !!(st && st.running), known = !!st;
  var marks = hpMarks(st);
  if (hs.view && !marks.some(function (m) { return m.name === hs.view; })) hs.view = "";
  setAttr(pyEl.hp, "data-running", running ? "true" : "false");
  setAttr(pyEl.hp, "data-sampler", running && st.sampler ? String(st.sampler) : null);
  setAttr(pyEl.hp, "data-view", hs.view ? "growth" : "inuse");
  setText(pyEl.hpInfo, running ? hpSamplerText(st) : "");
  setAttr(pyEl.hpToggle, "data-running", running ? "true" : "false");
  setText(pyEl.hpToggle, hs.busy ? "Asking\u2026" : running ? "Stop the heap profiler" : "Start the heap profiler");
  pyEl.hpToggle.disabled = hs.busy || exited || !rec.python || !known;
  pyEl.hpToggle.title = exited ? "the process has exited" : !known ? "this agent has no heap profiler" : "";
  hpOptions(marks, hs.view);
  pyEl.hpView.disabled = !running;
  pyEl.hpMark.disabled = !running || hs.busy || exited;
  pyEl.hpError.hidden = !hs.error;
  setText(pyEl.hpError, hs.error);

  var note = "";
  if (exited) note = "The process has exited.";
  else if (!known) note = rec.python ? "This process's agent says nothing of a heap profiler (an older memlens in the target?)." : "";
  else if (!running) note = "The heap profiler is off. Started, it samples allocations by bytes (or traces every one with tracemalloc where its sampler cannot load) and shows which stacks hold the memory in use; asked only while this graph is on screen.";
  pyEl.hpNote.hidden = !note;
  setText(pyEl.hpNote, note);
  pyEl.hpFlame.hidden = !running;

  var age = hs.asked ? Math.round((Date.now() - hs.asked) / 1000) : null;
  var words = !running ? "" : hs.profile ? "as of " + fmtClock(num(hs.profile.time) || hs.asked / 1000) +
    " \u00b7 " + fmtBytes(num(hs.profile.inuse_bytes)) + (hs.view ? " grown" : " in use") +
    (hs.profile.truncated > 0 ? " \u00b7 " + hs.profile.truncated + " smaller stacks left out" : "") : age == null ? "asking for the first profile\u2026" : DASH;
  setText(pyEl.hpState, words);
  hpSchedule();
}

// -- asking for profiles -----------------------------------------------------------------

function hpLooking(rec) {
  if (document.visibilityState !== "visible" || pyPanel.hidden || !hp.onScreen) return false;
  if (state.mode === "recording" || !rec || rec.state === "exited") return false;
  var ps = rec.py, hs = ps && ps.heap;
  return !!(hs && hpStatus(rec, hs) && hpStatus(rec, hs).running);
}

function hpSchedule() {
  if (hp.timer) return;
  hp.timer = setTimeout(function () { hp.timer = 0; hpTick(); }, 500);
}

function hpTick() {
  var rec = py.key ? state.targets.get(py.key) : null;
  if (!hpLooking(rec)) return;   // asked again by the next render
  if (!hp.inflight && Date.now() >= hp.nextAt) hpAsk(rec);
  hpSchedule();
}

function hpErrorText(status, body) {
  var why = body && typeof body.error === "string" && body.error ? ": " + body.error : "";
  if (status === 409) return "The agent refused" + why + ".";
  if (status === 503 || status === 502) return "The agent does not answer" + why + ".";
  if (status === 404) return "This process has no Python agent any more" + why + ".";
  return "The server refused the request (HTTP " + status + ")" + why + ".";
}

function hpAsk(rec) {
  var hs = hpState(rec.py), key = rec.key, view = hs.view;
  var path = "api/python/heap?target=" + encodeURIComponent(key) + "&limit=" + HP_LIMIT +
    (view ? "&kind=growth&since=" + encodeURIComponent(view) : "&kind=inuse");
  var n = hp.inflight = ++hp.seq;
  hp.nextAt = Date.now() + HP_EVERY;
  fetch(apiUrl(path), { cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) {
      return r.json().catch(function () { return null; }).then(function (body) {
        if (hp.inflight !== n || py.key !== key || hs.view !== view) return;   // stale
        if (r.ok && body && Array.isArray(body.stacks)) {
          hs.profile = body;
          hs.asked = Date.now();
          hs.version++;
          hs.error = "";
          hpFlame().setProfile(body);
        } else if (r.status === 503 && body && num(body.retry_after_s) != null) {
          hp.nextAt = Date.now() + Math.max(HP_EVERY, 1000 * +body.retry_after_s);
        } else if (r.status === 409 && body && body.code === "bad_request" && view) {
          hs.view = "";   // the mark is gone (the agent keeps the newest 32)
          hp.nextAt = 0;
        } else if (!(r.status === 409 && body && body.code === "not_profiling")) {
          hs.error = hpErrorText(r.status, body);
        }
      });
    })
    .catch(function (e) { hs.error = "The server did not answer (" + (e && e.message ? e.message : "network error") + ")."; })
    .then(function () { if (hp.inflight === n) hp.inflight = 0; needRender(); });
}

// -- the switch and the marks --------------------------------------------------------------

function hpPost(rec, body, done) {
  var hs = hpState(rec.py);
  if (hs.busy) return;
  hs.busy = true;
  hs.error = "";
  needRender();
  fetch(apiUrl("api/python/heap"), {
    method: "POST", cache: "no-store", credentials: "same-origin",
    headers: { "content-type": "application/json", Accept: "application/json" },
    body: JSON.stringify(Object.assign({ target: rec.key }, body)),
  })
    .then(function (r) {
      return r.json().catch(function () { return null; }).then(function (answer) {
        if (!r.ok) { hs.error = hpErrorText(r.status, answer); return; }
        done(hs, answer || {});
      });
    })
    .catch(function (e) { hs.error = "The server did not answer (" + (e && e.message ? e.message : "network error") + ")."; })
    .then(function () { hs.busy = false; needRender(); });
}

function hpCurrent() {
  var rec = py.key ? state.targets.get(py.key) : null;
  return rec && rec.py ? rec : null;
}

pyEl.hpToggle.addEventListener("click", function () {
  var rec = hpCurrent();
  if (!rec) return;
  var running = !!(hpStatus(rec, hpState(rec.py)) || {}).running;
  hpPost(rec, { op: running ? "stop" : "start" }, function (hs, answer) {
    hs.pending = { status: answer, until: Date.now() + HP_PENDING_MS };
    if (rec.python) rec.python.heap = answer;
    if (!answer.running) { hs.profile = null; hs.view = ""; hpFlame().setProfile(null); }
    hp.nextAt = 0;
  });
});

pyEl.hpMark.addEventListener("click", function () {
  var rec = hpCurrent();
  if (!rec) return;
  var name = "page " + fmtClock(Date.now() / 1000);
  hpPost(rec, { op: "mark", name: name }, function (hs, answer) {
    var st = rec.python && rec.python.heap;
    if (st && Array.isArray(st.marks) && !st.marks.some(function (m) { return m.name === answer.name; })) {
      st.marks = st.marks.concat([{ name: answer.name, time: answer.time }]);
    }
    hs.view = typeof answer.name === "string" ? answer.name : name;
    hp.nextAt = 0;
  });
});

pyEl.hpView.addEventListener("change", function () {
  var rec = hpCurrent();
  if (!rec) return;
  hpState(rec.py).view = pyEl.hpView.value;
  hp.inflight = 0;   // an answer for the other view is dropped
  hp.nextAt = 0;
  needRender();
});

if (window.IntersectionObserver) {
  new IntersectionObserver(function (entries) {
    hp.onScreen = entries.some(function (e) { return e.isIntersecting; });
    if (hp.onScreen) needRender();
  }).observe(pyEl.hp);
} else {
  hp.onScreen = true;
}
document.addEventListener("visibilitychange", function () { if (document.visibilityState === "visible") needRender(); });

// for tests and the console: the graph, and how many profiles were asked for
export var heapView = { flame: function () { return hpFlame(); }, asked: function () { return hp.seq; } };
