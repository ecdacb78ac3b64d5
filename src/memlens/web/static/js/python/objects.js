// The object types whose counts grow fastest, beside the allocation sites: the agent's
// `objects` (a walk over every object the collector tracks, costly for the target), asked
// by the server every 30 s while a page is open, or at once with "Count now" (when the
// agent rests after a costly request, once the rest ends). Type names come from the
// profiled program: they are set as text, never markup.

import { fmtSignedCount, fmtThousands, fmtWhen } from "../format.js";
import { needRender } from "../render.js";
import { py } from "../state.js";
import { targetFor } from "../targets.js";
import { apiUrl } from "../url.js";
import { setAttr, setText, num } from "../util.js";
import { pyOf } from "./data.js";
import { pyEl } from "./elements.js";

function visible(text) { return String(text).replace(/[\u0000-\u001f\u007f]/g, "\u00b7"); }

function countNow() {
  var key = py.key;
  if (!key) return;
  var ps = pyOf(targetFor(key));
  ps.objectsNote = "asking the agent…";
  needRender();
  fetch(apiUrl("api/python/objects"), {
    method: "POST",
    cache: "no-store",
    credentials: "same-origin",
    headers: { "content-type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ target: key }),
  })
    .then(function (r) {
      return r.json().catch(function () { return null; }).then(function (answer) {
        var wait = answer ? num(answer.in_s) : null;
        if (!r.ok) ps.objectsNote = "not counted" + (answer && typeof answer.error === "string" ? ": " + answer.error : "");
        else ps.objectsNote = wait != null && wait > 0.5 ? "the agent rests: counting in " + Math.ceil(wait) + " s" : "counting…";
        needRender();
      });
    })
    .catch(function () { ps.objectsNote = "the server did not answer"; needRender(); });
}

if (pyEl.objCount) pyEl.objCount.addEventListener("click", countNow);

export function renderObjects(ps) {
  var shown = py.key + "|" + ps.objectsVersion + "|" + ps.objectsNote;
  if (py.objectsShown === shown) return;
  py.objectsShown = shown;
  var data = ps.objects ? ps.objects.data : null;
  var types = data && Array.isArray(data.types) ? data.types : [];
  var first = !!(data && data.first);
  var body = pyEl.objBody;
  body.textContent = "";
  setText(pyEl.objGrowthHead, first ? "growth" : "growth since " + fmtWhen(num(data && data.since)));
  types.forEach(function (t) {
    if (!t || typeof t !== "object") return;
    var tr = document.createElement("tr");
    var name = document.createElement("td");
    name.className = "py-type";
    name.textContent = visible(t.type);
    var count = document.createElement("td");
    count.className = "num";
    count.textContent = num(t.count) == null ? "–" : fmtThousands(+t.count);
    var growth = document.createElement("td");
    growth.className = "num py-growth";
    var g = num(t.growth);
    growth.textContent = t["new"] ? "new" : first ? "–" : fmtSignedCount(g);
    growth.setAttribute("data-sign", g > 0 ? "up" : g < 0 ? "down" : "flat");
    tr.appendChild(name);
    tr.appendChild(count);
    tr.appendChild(growth);
    body.appendChild(tr);
  });
  var sub = "";
  if (data) {
    sub = first
      ? "the most numerous types; growth shows from the next count"
      : "counted " + fmtWhen(ps.objects.t) + " · " + fmtThousands(num(data.total) || 0) + " objects tracked (" +
        fmtSignedCount(num(data.total_growth) || 0) + ")";
  }
  if (ps.objectsNote) sub = (sub ? sub + " · " : "") + ps.objectsNote;
  setText(pyEl.objSub, sub);
  pyEl.objEmpty.hidden = types.length > 0;
  if (data && !types.length) setText(pyEl.objEmpty, "No type grew since " + fmtWhen(num(data.since)) + ".");
  setAttr(pyEl.objects, "data-counts", String(ps.objectsVersion));
}
