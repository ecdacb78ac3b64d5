// The Python panel's lists: the latest gc pauses and the fastest-growing allocation sites
// (each with the stacks behind it, sites.js).

import { PY_PATH_MAX } from "../constants.js";
import { DASH, fmtBytes, fmtClock, fmtCount, fmtMs, fmtSignedBytes, fmtSignedCount, fmtThousands, fmtWhen } from "../format.js";
import { pyEl } from "./elements.js";
import { siteDetail } from "./sites.js";
import { py } from "../state.js";
import { num, setAttr, setText } from "../util.js";

function shortPath(file) {
  var f = String(file);
  if (f.length <= PY_PATH_MAX) return f;
  var parts = f.split(/[\\/]/);
  var tail = parts.slice(-2).join("/");
  if (tail.length > PY_PATH_MAX - 2) tail = parts[parts.length - 1];
  if (tail.length > PY_PATH_MAX - 2) tail = tail.slice(-(PY_PATH_MAX - 2));
  return "\u2026/" + tail;
}

export function renderPauses(ps) {
  var g = ps.gc;
  var shown = py.key + "|" + ps.gcVersion;
  if (py.pausesShown === shown) return;
  py.pausesShown = shown;
  pyEl.pauseList.textContent = "";
  if (!g.last) {
    setAttr(pyEl.pauses, "data-count", null);
    setText(pyEl.pausesSummary, "gc pauses: waiting for the agent's first answer (it is asked every 5 s)");
    return;
  }
  setAttr(pyEl.pauses, "data-count", String(g.count));
  setAttr(pyEl.pauses, "data-max-ms", g.max == null ? null : String(Math.round(g.max * 1e6) / 1000));
  var s = "gc pauses since " + fmtWhen(g.since) + ": " + fmtThousands(g.count) + (g.count === 1 ? " pause" : " pauses");
  if (g.count > 0) s += ", " + fmtMs(g.total) + " in all, longest " + fmtMs(g.max);
  if (g.last.count != null) s += " \u00b7 last 5 s: " + fmtThousands(g.last.count) + (g.last.count > 0 ? ", longest " + fmtMs(g.last.max) : "");
  if (g.dropped > 0) s += " \u00b7 " + fmtThousands(g.dropped) + " not kept";
  if (!g.last.collecting) s += " \u00b7 not collecting";
  setText(pyEl.pausesSummary, s);
  g.pauses.forEach(function (p) {
    var li = document.createElement("li");
    li.setAttribute("data-generation", String(p.generation));
    var when = document.createElement("span");
    when.className = "py-pause-time muted";
    when.textContent = num(p.time) != null ? fmtClock(+p.time) : DASH;
    var what = document.createElement("span");
    what.className = "py-pause-gen";
    what.textContent = "gen " + (p.generation == null ? "?" : p.generation);
    var dur = document.createElement("span");
    dur.className = "py-pause-dur";
    dur.textContent = fmtMs(num(p.duration_s));
    li.appendChild(when);
    li.appendChild(what);
    li.appendChild(dur);
    if (num(p.collected) != null) {
      var col = document.createElement("span");
      col.className = "py-pause-collected muted";
      col.textContent = fmtThousands(+p.collected) + " collected" + (+p.uncollectable > 0 ? ", " + fmtThousands(+p.uncollectable) + " uncollectable" : "");
      li.appendChild(col);
    }
    pyEl.pauseList.appendChild(li);
  });
}

export function renderTop(ps, tracing, live) {
  var top = ps.top, heap = ps.heap && ps.heap.profile ? ps.heap : null;
  var shown = py.key + "|" + ps.topVersion + "|" + tracing + "|" + (heap ? heap.version : 0);
  if (py.topShown === shown) return;
  py.topShown = shown;
  var body = pyEl.topBody;
  body.textContent = "";
  var data = top ? top.data : null;
  var sites = data && Array.isArray(data.sites) ? data.sites : [];
  var sinceStart = data && data.baseline === "trace_start";
  setText(pyEl.growthHead, sinceStart ? "growth since tracing began" : "growth since the previous look");
  sites.forEach(function (site) {
    if (!site || typeof site !== "object") return;
    var file = String(site.file == null ? "?" : site.file), line = site.line == null ? "" : String(site.line);
    var tr = document.createElement("tr");
    tr.setAttribute("data-file", file);
    tr.setAttribute("data-line", line);
    var where = document.createElement("td");
    where.className = "py-site";
    where.title = file + (line ? ":" + line : "");
    var f = document.createElement("span");
    f.className = "py-file";
    f.textContent = shortPath(file);
    where.appendChild(f);
    if (line) {
      var ln = document.createElement("span");
      ln.className = "py-line";
      ln.textContent = ":" + line;
      where.appendChild(ln);
    }
    var size = document.createElement("td");
    size.className = "num";
    size.textContent = fmtBytes(num(site.size_bytes));
    var diff = num(site.size_diff_bytes);
    var growth = document.createElement("td");
    growth.className = "num py-growth";
    growth.textContent = fmtSignedBytes(diff);
    growth.setAttribute("data-sign", diff > 0 ? "up" : diff < 0 ? "down" : "flat");
    if (diff != null) growth.setAttribute("data-bytes", String(Math.round(diff)));
    var count = document.createElement("td");
    count.className = "num";
    count.textContent = fmtCount(num(site.count));
    var cd = num(site.count_diff);
    if (cd) {
      var small = document.createElement("span");
      small.className = "py-count-diff muted";
      small.textContent = " " + fmtSignedCount(cd);
      count.appendChild(small);
    }
    tr.appendChild(where);
    tr.appendChild(size);
    tr.appendChild(growth);
    tr.appendChild(count);
    var more = siteDetail(site, tr, where, heap);
    body.appendChild(tr);
    if (more) body.appendChild(more);
  });
  var has = body.children.length > 0;
  pyEl.topTable.hidden = !has;
  setAttr(pyEl.topTable, "data-stale", has && !tracing ? "true" : null);
  var empty = "";
  if (!has) {
    if (tracing) empty = top ? "The traced heap holds no allocation sites that grew." : "Tracing: memlens looks at the allocation sites every 10 s; the first look comes soon.";
    else empty = live ? "No allocation sites: they are known only while Python allocations are traced. Turn tracing on with the button above; memlens then looks every 10 s."
      : "No allocation sites were looked at in this recording.";
  }
  pyEl.topEmpty.hidden = has;
  setText(pyEl.topEmpty, empty);
  var sub = "";
  if (data) {
    sub = "as of " + fmtWhen(top.t);
    if (num(data.total_bytes) != null) sub += " \u00b7 traced in all " + fmtBytes(+data.total_bytes);
    if (num(data.total_diff_bytes) != null) sub += " (" + fmtSignedBytes(+data.total_diff_bytes) + ")";
    if (has && !tracing) sub += " \u00b7 tracing is off now: the last look";
  }
  setText(pyEl.topSub, sub);
}
