// A heap profile drawn as an icicle (the root at the top, callees below, the allocating
// frame at the bottom of each stack) on one canvas: width is bytes (in use, allocated,
// or growth since a mark: the note above the graph says which), a detail line for the
// frame under the pointer, a click zooms into a frame (the breadcrumb and "Reset zoom"
// go back), a search box highlights the frames that match and says how much they hold.
// Colours follow the frame's file, so a module keeps its colour across refreshes and
// pages.
//
// Names and files come from the profiled process: they are only ever written with
// fillText and textContent. Thousands of stacks stay fast: frames narrower than a pixel
// are not drawn (nor anything below them), the frame under the pointer is outlined on a
// canvas of its own, and the hit test is a binary search in the drawn row.
//
// Used by the dashboard's Python panel and inlined, with flametree.js and format.js, into
// the profile's offline page (memlens/formats/heap_html.py): it imports only those two and
// declares only names starting with "flame".
"use strict";

import { fmtBytes, fmtWhen } from "./format.js";
import { flameBuild, flameFind, flamePath, flameSearch, flameShare, flameVisible } from "./flametree.js";

var FLAME_ROW = 18;
var FLAME_MIN_PX = 1;      // narrower frames (and what they call) are not drawn: a sliver shows nothing
var FLAME_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
var FLAME_CRUMB_MAX = 40;

function flameEl(tag, cls, text) {
  var el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text != null) el.textContent = text;
  return el;
}

function flameShort(s, most) { return s.length > most ? s.slice(0, most - 1) + "\u2026" : s; }

function flameWhere(node) {
  if (!node.file) return "";
  return flameVisible(node.file) + (node.line == null ? "" : ":" + node.line);
}

var flameColors = new Map();   // "look|hue|dark" -> CSS colour: built once each

function flameColor(node, look, dark) {
  var hue = node.hue;
  var key = look + "|" + hue + "|" + dark, c = flameColors.get(key);
  if (c) return c;
  if (hue < 0) c = dark ? "hsl(220, 8%, 34%)" : "hsl(220, 12%, 84%)";
  else if (look === "match") c = dark ? "hsl(322, 75%, 52%)" : "hsl(322, 80%, 62%)";
  else if (look === "faded") c = dark ? "hsl(" + hue + ", 10%, 24%)" : "hsl(" + hue + ", 14%, 90%)";
  else if (look === "above") c = dark ? "hsl(" + hue + ", 22%, 28%)" : "hsl(" + hue + ", 30%, 86%)";
  else c = dark ? "hsl(" + hue + ", 42%, 38%)" : "hsl(" + hue + ", 62%, 74%)";
  flameColors.set(key, c);
  return c;
}

// The words above the graph: what a frame's width is.
function flameNoteText(tree, profile) {
  var p = profile || {};
  var exact = p.sampler === "tracemalloc" || +p.interval_bytes === 0;
  var how = exact ? "" : " (estimated from samples)";
  if (tree.kind === "allocated") {
    return "Width: bytes allocated" + how + (+p.since > 0 ? " since " + fmtWhen(+p.since) : "") + ", by the stack that allocated them.";
  }
  if (tree.kind === "growth") {
    var since = p.since_mark ? "mark \u201c" + flameVisible(p.since_mark) + "\u201d" : "the profiler started";
    if (+p.since > 0) since += " (" + fmtWhen(+p.since) + ")";
    var s = "Width: growth of the bytes in use since " + since + how + "; only stacks that grew are drawn";
    if (tree.shrunkStacks > 0) s += " (" + tree.shrunkStacks + " stack" + (tree.shrunkStacks === 1 ? "" : "s") + " shrank, by " + fmtBytes(-tree.shrunk) + " in all)";
    return s + ".";
  }
  return "Width: bytes in use now" + how + ", by the stack that allocated them.";
}

export function flameCreate(host, options) {
  var opts = options || {};
  var dark = typeof opts.dark === "function" ? opts.dark : function () { return false; };
  var view = { tree: null, profile: null, zoom: null, path: [], query: "", found: null, hover: null, rows: [], dirty: true, frame: 0, width: 0 };

  host.textContent = "";
  host.classList.add("fg");
  var bar = flameEl("div", "fg-bar");
  var input = flameEl("input", "fg-search");
  input.type = "search";
  input.placeholder = "Search functions and files";
  input.setAttribute("aria-label", "Search the flame graph's functions and files");
  input.spellcheck = false;
  var match = flameEl("span", "fg-match");
  match.setAttribute("aria-live", "polite");
  var reset = flameEl("button", "btn fg-reset", "Reset zoom");
  reset.type = "button";
  bar.appendChild(input);
  bar.appendChild(match);
  bar.appendChild(reset);
  var crumbs = flameEl("nav", "fg-crumbs");
  crumbs.setAttribute("aria-label", "Zoomed into");
  var note = flameEl("p", "fg-note");
  var scroll = flameEl("div", "fg-scroll");
  var stage = flameEl("div", "fg-stage");
  var canvas = flameEl("canvas", "fg-canvas");
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "Flame graph");
  var overlay = flameEl("canvas", "fg-overlay");   // the frame under the pointer, drawn alone
  overlay.setAttribute("aria-hidden", "true");
  stage.appendChild(canvas);
  stage.appendChild(overlay);
  scroll.appendChild(stage);
  var empty = flameEl("p", "fg-empty", "No profile yet.");
  var detail = flameEl("p", "fg-detail");
  [bar, crumbs, note, scroll, empty, detail].forEach(function (el) { host.appendChild(el); });

  function schedule() {
    view.dirty = true;
    if (view.frame) return;
    view.frame = requestAnimationFrame(function () { view.frame = 0; draw(); });
  }

  // -- layout and painting -----------------------------------------------------------

  function layout(width) {
    var rows = [], z = view.zoom;
    for (var a = z.parent; a; a = a.parent) rows[a.depth] = [{ x: 0, w: width, n: a, above: true }];
    var scale = width / z.value, todo = [[z, 0]];
    while (todo.length) {
      var item = todo.pop(), node = item[0], x = item[1], w = node.value * scale;
      (rows[node.depth] = rows[node.depth] || []).push({ x: x, w: w, n: node, above: false });
      var off = x, next = [];
      for (var i = 0; i < node.kids.length; i++) {
        var kw = node.kids[i].value * scale;
        if (kw < FLAME_MIN_PX) break;   // widest first: the rest are narrower still
        next.push([node.kids[i], off]);
        off += kw;
      }
      for (var j = next.length - 1; j >= 0; j--) todo.push(next[j]);
    }
    return rows;
  }

  function draw() {
    if (!view.dirty) return;
    var tree = view.tree;
    var has = !!(tree && tree.root.value > 0);
    scroll.hidden = !has;
    empty.hidden = has;
    if (!has) { view.rows = []; host.dataset.fgFrames = "0"; view.dirty = false; return; }
    var width = Math.floor(scroll.clientWidth || host.clientWidth || 0);
    if (width <= 0) return;   // hidden: drawn when shown
    view.dirty = false;
    view.width = width;
    var rows = view.rows = layout(width);
    var height = rows.length * FLAME_ROW, ratio = window.devicePixelRatio || 1;
    [canvas, overlay].forEach(function (c) {
      if (c.width === Math.round(width * ratio) && c.height === Math.round(height * ratio)) return;
      c.width = Math.round(width * ratio);
      c.height = Math.round(height * ratio);
      c.style.width = width + "px";
      c.style.height = height + "px";
    });
    view.ratio = ratio;
    var ctx = canvas.getContext("2d"), isDark = !!dark();
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = FLAME_FONT;
    ctx.textBaseline = "middle";
    var charW = ctx.measureText("abcdefghijklmnopqrstuvwxyz_.ABCDEFGH").width / 36;
    var searching = !!(view.found && view.found.query), count = 0, fill = "";
    var text = isDark ? "#e6e9ef" : "#1d2330", faintText = isDark ? "#9aa3b2" : "#5b6475";
    for (var d = 0; d < rows.length; d++) {
      var row = rows[d] || [], y = d * FLAME_ROW;
      for (var i = 0; i < row.length; i++) {
        var r = row[i], n = r.n;
        var look = searching ? (n.match ? "match" : "faded") : r.above ? "above" : "normal";
        var c = flameColor(n, look, isDark);
        if (c !== fill) { ctx.fillStyle = fill = c; }
        ctx.fillRect(r.x, y, r.w > 2 ? r.w - 1 : r.w, FLAME_ROW - 1);
        count++;
        var room = Math.floor((r.w - 8) / charW);
        if (room < 3) continue;
        var label = flameVisible(n.name);
        if (label.length > room) label = label.slice(0, room - 1) + "\u2026";
        while (label.length > 2 && ctx.measureText(label).width > r.w - 8) label = label.slice(0, -2) + "\u2026";
        r.label = label;
        ctx.fillStyle = fill = r.above || (searching && !n.match) ? faintText : text;
        ctx.fillText(label, r.x + 4, y + FLAME_ROW / 2);
      }
    }
    host.dataset.fgFrames = String(count);
    outline();
  }

  // The frame under the pointer, outlined on the overlay: the graph is not drawn again.
  function outline() {
    var ctx = overlay.getContext("2d"), ratio = view.ratio || 1;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, overlay.width / ratio, overlay.height / ratio);
    var h = view.hover && hitOf(view.hover);
    if (!h) return;
    ctx.strokeStyle = dark() ? "#e6e9ef" : "#1d2330";
    ctx.lineWidth = 1.5;
    ctx.strokeRect(h.x + 0.75, h.y + 0.75, Math.max(h.w - 2, 1), FLAME_ROW - 2.5);
  }

  function hitOf(node) {
    var row = view.rows[node.depth] || [];
    for (var i = 0; i < row.length; i++) if (row[i].n === node) return { x: row[i].x, y: node.depth * FLAME_ROW, w: row[i].w };
    return null;
  }

  function nodeAt(x, y) {
    var row = view.rows[Math.floor(y / FLAME_ROW)];
    if (!row) return null;
    var lo = 0, hi = row.length - 1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1, r = row[mid];
      if (x < r.x) hi = mid - 1;
      else if (x >= r.x + r.w) lo = mid + 1;
      else return r.n;
    }
    return null;
  }

  // -- the words around the graph ------------------------------------------------------

  function describe(node) {
    var tree = view.tree, total = tree.root.value, parts = [];
    var sign = tree.kind === "growth" ? "+" : "";
    detail.textContent = "";
    var name = flameEl("strong", "fg-d-name", flameVisible(node.name));
    detail.appendChild(name);
    var where = flameWhere(node);
    if (where) detail.appendChild(flameEl("span", "fg-d-where", where));
    detail.appendChild(flameEl("span", "fg-d-bytes", sign + fmtBytes(node.value)));
    parts.push(flameShare(node.value, total) + " of all");
    if (view.zoom !== tree.root && node !== view.zoom && node.depth > view.zoom.depth) parts.push(flameShare(node.value, view.zoom.value) + " of the zoomed frame");
    if (node.self > 0 && node.kids.length) parts.push("allocated here itself " + sign + fmtBytes(node.self));
    detail.appendChild(flameEl("span", "fg-d-share", parts.join(" \u00b7 ")));
    host.dataset.fgDetail = node.name;
  }

  function describeDefault() {
    if (!view.tree) { detail.textContent = ""; return; }
    if (view.zoom && view.zoom.parent) { describe(view.zoom); return; }
    detail.textContent = "";
    detail.appendChild(flameEl("span", "fg-d-hint", "Point at a frame for its bytes and share; click one to zoom into it."));
    delete host.dataset.fgDetail;
  }

  function renderCrumbs() {
    crumbs.textContent = "";
    var z = view.zoom, chain = [];
    for (var a = z; a; a = a.parent) chain.unshift(a);
    crumbs.hidden = chain.length < 2;
    reset.disabled = chain.length < 2;
    chain.forEach(function (node, i) {
      if (i) crumbs.appendChild(flameEl("span", "fg-crumb-sep", "\u203a"));
      var b = flameEl("button", "fg-crumb", flameShort(flameVisible(node.name), FLAME_CRUMB_MAX));
      b.type = "button";
      b.title = node.parent ? flameVisible(node.name) + (node.file ? " \u00b7 " + flameWhere(node) : "") : "the whole profile";
      if (node === z) b.setAttribute("aria-current", "true");
      b.addEventListener("click", function () { zoomTo(node); });
      crumbs.appendChild(b);
    });
    host.dataset.fgZoom = z.parent ? z.name : "";
    host.dataset.fgZoomDepth = String(z.depth);
  }

  function renderMatch() {
    var f = view.found, tree = view.tree;
    if (!f || !f.query || !tree) {
      match.textContent = "";
      delete host.dataset.fgMatchShare;
      delete host.dataset.fgMatchFrames;
      return;
    }
    var total = tree.root.value;
    host.dataset.fgMatchFrames = String(f.frames);
    host.dataset.fgMatchShare = total > 0 ? (100 * f.bytes / total).toFixed(1) : "0.0";
    if (!f.frames) { match.textContent = "no frame matches"; return; }
    var s = f.frames + (f.frames === 1 ? " frame matches: " : " frames match: ") + fmtBytes(f.bytes) + ", " + flameShare(f.bytes, total) + " of all";
    if (view.zoom !== tree.root) s += " (" + flameShare(f.inView, view.zoom.value) + " of the zoomed frame)";
    match.textContent = s;
  }

  // -- changes ---------------------------------------------------------------------------

  function runSearch() {
    view.found = view.tree ? flameSearch(view.tree, view.query, view.zoom) : null;
    renderMatch();
  }

  function zoomTo(node) {
    if (!view.tree) return;
    view.zoom = node || view.tree.root;
    view.path = flamePath(view.zoom);
    view.hover = null;
    renderCrumbs();
    runSearch();
    describeDefault();
    schedule();
  }

  function setProfile(profile) {
    view.profile = profile;
    view.tree = flameBuild(profile);
    view.zoom = flameFind(view.tree, view.path);
    view.hover = null;
    host.dataset.fgKind = view.tree.kind;
    host.dataset.fgTotal = String(Math.round(view.tree.root.value));
    note.textContent = flameNoteText(view.tree, profile);
    empty.textContent = view.tree.kind === "growth" ? "No stack grew since the mark." :
      view.tree.kind === "allocated" && profile && profile.sampler === "tracemalloc" ? "tracemalloc cannot say what was allocated, only what is in use." :
      "No stack holds memory that the profile shows.";
    renderCrumbs();
    runSearch();
    describeDefault();
    schedule();
  }

  function setSearch(text) {
    view.query = String(text || "");
    if (input.value !== view.query) input.value = view.query;
    runSearch();
    schedule();
  }

  function pointer(e) {
    var box = canvas.getBoundingClientRect();
    return nodeAt(e.clientX - box.left, e.clientY - box.top);
  }

  canvas.addEventListener("mousemove", function (e) {
    var n = pointer(e);
    if (n === view.hover) return;
    view.hover = n;
    canvas.style.cursor = n ? "pointer" : "";
    if (n) describe(n); else describeDefault();
    outline();
  });
  canvas.addEventListener("mouseleave", function () { view.hover = null; describeDefault(); outline(); });
  canvas.addEventListener("click", function (e) { var n = pointer(e); if (n) zoomTo(n); });
  canvas.addEventListener("keydown", function (e) {
    if ((e.key === "Escape" || e.key === "Backspace") && view.zoom && view.zoom.parent) { zoomTo(view.zoom.parent); e.preventDefault(); }
  });
  input.addEventListener("input", function () { setSearch(input.value); });
  input.addEventListener("keydown", function (e) { if (e.key === "Escape") setSearch(""); });
  reset.addEventListener("click", function () { zoomTo(null); });
  var observer = window.ResizeObserver ? new ResizeObserver(function () {
    if (Math.floor(scroll.clientWidth) !== view.width) schedule();
  }) : null;
  if (observer) observer.observe(host);

  setProfile(null);

  return {
    setProfile: setProfile,
    search: setSearch,
    zoom: zoomTo,
    reset: function () { zoomTo(null); },
    redraw: function () { view.dirty = true; draw(); },
    // frames drawn now, in CSS pixels of the canvas: for tests and the page's table
    frames: function () {
      if (view.dirty) draw();
      var out = [];
      view.rows.forEach(function (row, d) {
        (row || []).forEach(function (r) {
          out.push({ name: r.n.name, file: r.n.file, line: r.n.line, value: r.n.value, depth: d, x: r.x, y: d * FLAME_ROW, w: r.w, h: FLAME_ROW, label: r.label || "", match: r.n.match });
        });
      });
      return out;
    },
    // the middle of the widest drawn frame of function `name`, relative to the canvas
    locate: function (name) {
      var best = null;
      this.frames().forEach(function (f) { if (f.name === name && (!best || f.w > best.w)) best = f; });
      return best ? { x: best.x + best.w / 2, y: best.y + best.h / 2, w: best.w } : null;
    },
    canvas: canvas,
    destroy: function () {
      if (observer) observer.disconnect();
      if (view.frame) cancelAnimationFrame(view.frame);
      host.textContent = "";
    },
  };
}
