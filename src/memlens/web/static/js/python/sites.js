// The stacks behind an allocation site of the fastest-growing table: its tracemalloc
// traceback (when tracing keeps more than one frame), and the heap profile's stacks that
// end at the same file:line (when the heap profiler runs and a profile was read). A row
// with either gets a button that opens a detail row below it; which rows are open
// survives the table's redraws.

import { fmtBytes, fmtSignedBytes } from "../format.js";
import { flameVisible } from "../flametree.js";

var SITE_STACKS_SHOWN = 5;
var open = new Set();   // ids of the sites whose detail is open

function siteId(site) {
  var tb = Array.isArray(site.traceback) ? site.traceback.map(function (f) { return f.file + ":" + f.line; }).join(">") : "";
  return String(site.file) + ":" + String(site.line) + "|" + tb;
}

// The profile's stacks whose allocating frame is at file:line, widest first.
function heapStacksAt(profile, file, line) {
  if (!profile || !Array.isArray(profile.stacks)) return [];
  var out = [];
  profile.stacks.forEach(function (s) {
    var fr = s && Array.isArray(s.frames) && s.frames.length ? s.frames[s.frames.length - 1] : null;
    if (fr && String(fr.file) === file && String(fr.line) === line) out.push(s);
  });
  return out;
}

function frameItem(f) {
  var li = document.createElement("li");
  if (f["function"] != null && f["function"] !== "" && f["function"] !== "?") {   // tracemalloc names none
    var fn = document.createElement("span");
    fn.className = "py-tb-fn";
    fn.textContent = flameVisible(f["function"]) + " ";
    li.appendChild(fn);
  }
  var where = document.createElement("span");
  where.className = "py-tb-where";
  where.textContent = flameVisible(f.file) + ":" + f.line;
  li.appendChild(where);
  return li;
}

function frameList(frames) {
  var ol = document.createElement("ol");
  ol.className = "py-tb";
  frames.forEach(function (f) { if (f && typeof f === "object") ol.appendChild(frameItem(f)); });
  return ol;
}

function heading(text) {
  var h = document.createElement("p");
  h.className = "py-tb-head muted";
  h.textContent = text;
  return h;
}

// The detail row of `site`, or null when there is nothing behind it to show; `tr` gets
// the button that opens it.
export function siteDetail(site, tr, cell, heap) {
  var file = String(site.file == null ? "?" : site.file), line = site.line == null ? "" : String(site.line);
  var tb = Array.isArray(site.traceback) && site.traceback.length > 1 ? site.traceback : null;
  var profile = heap && heap.profile, stacks = heapStacksAt(profile, file, line);
  if (!tb && !stacks.length) return null;
  var id = siteId(site), row = document.createElement("tr");
  row.className = "py-tb-row";
  row.hidden = !open.has(id);
  var td = document.createElement("td");
  td.colSpan = 4;
  row.appendChild(td);
  if (tb) {
    td.appendChild(heading("traceback, oldest call first (tracemalloc, " + tb.length + " frames)"));
    td.appendChild(frameList(tb));
  }
  if (stacks.length) {
    var growth = profile.kind === "growth";
    td.appendChild(heading("heap profile" + (growth ? " (growth since " + flameVisible(profile.since_mark || "the mark") + ")" : "") +
      ": " + stacks.length + (stacks.length === 1 ? " stack ends" : " stacks end") + " at this line"));
    stacks.slice(0, SITE_STACKS_SHOWN).forEach(function (s) {
      var b = growth ? fmtSignedBytes(+s.inuse_bytes) : fmtBytes(+s.inuse_bytes);
      var p = heading(b + (growth ? "" : " in use"));
      p.className = "py-tb-bytes";
      td.appendChild(p);
      td.appendChild(frameList(s.frames));
    });
  }
  tr.setAttribute("data-stacks", [tb ? "traceback" : "", stacks.length ? "heap" : ""].filter(Boolean).join(" "));
  var button = document.createElement("button");
  button.type = "button";
  button.className = "py-tb-toggle";
  button.setAttribute("aria-expanded", row.hidden ? "false" : "true");
  button.title = "the stacks behind this site";
  button.textContent = row.hidden ? "\u25b8" : "\u25be";
  button.addEventListener("click", function () {
    row.hidden = !row.hidden;
    if (row.hidden) open.delete(id); else open.add(id);
    button.setAttribute("aria-expanded", row.hidden ? "false" : "true");
    button.textContent = row.hidden ? "\u25b8" : "\u25be";
  });
  cell.insertBefore(button, cell.firstChild);
  return row;
}
