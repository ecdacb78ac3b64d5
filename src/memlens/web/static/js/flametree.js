// The flame graph's data: a heap profile's stacks (docs/heap.md, "memlens.heap" JSON)
// merged into one tree by frame (function, file and line), the search over it, and each
// file's colour. Pure functions, no page: flamegraph.js draws what these return.
//
// One file for the dashboard and the profile's offline page: the page inlines it as a
// classic script (memlens/formats/page.py), so it imports nothing and declares only with
// `export function` and `export var` or without export, every name starting with "flame"
// (the page's scripts share one scope).
"use strict";

export var FLAME_NO_FRAME = "[no Python frame]";
var FLAME_SEP = "\u0000";

function flameNode(parent, name, file, line, key, hue) {
  return {
    parent: parent, name: name, file: file, line: line, key: key, hue: hue,
    depth: parent ? parent.depth + 1 : 0,
    value: 0, self: 0, count: 0, kids: null, byKey: null, match: false, other: false,
  };
}

function flameText(v, most) {
  var s = v == null ? "" : String(v);
  return s.length > most ? s.slice(0, most) + "\u2026" : s;
}

// Control characters of a name from the profiled process, shown as escapes.
export function flameVisible(s) {
  return String(s).replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, function (c) {
    var h = c.charCodeAt(0).toString(16);
    return h.length <= 2 ? "\\x" + ("0" + h).slice(-2) : "\\u" + ("000" + h).slice(-4);
  });
}

// What a stack's width is for each kind, and the words that say so.
export function flameMeasure(kind) {
  if (kind === "allocated") return { field: "alloc_bytes", count: "alloc_count", what: "allocated" };
  if (kind === "growth") return { field: "inuse_bytes", count: "inuse_count", what: "growth" };
  return { field: "inuse_bytes", count: "inuse_count", what: "in use" };
}

// The tree of a profile: root "all", one node per distinct frame path, values summed.
// Growth counts only the stacks that grew (their sum is the root); `shrunk` holds the
// rest. Stacks the profile left out (`truncated`) are one node "[N more stacks]" when
// the profile's total says how much they hold.
export function flameBuild(profile) {
  var p = profile && typeof profile === "object" ? profile : {};
  var kind = p.kind === "allocated" || p.kind === "growth" ? p.kind : "inuse";
  var m = flameMeasure(kind);
  var root = flameNode(null, "all", "", null, "", -1);
  var hues = new Map();
  var stacks = Array.isArray(p.stacks) ? p.stacks : [];
  var shrunk = 0, shrunkStacks = 0, listed = 0, maxDepth = 0;
  for (var i = 0; i < stacks.length; i++) {
    var s = stacks[i];
    if (!s || typeof s !== "object") continue;
    var v = +s[m.field], c = +s[m.count];
    if (!isFinite(v)) continue;
    if (v <= 0) { if (v < 0) { shrunk += v; shrunkStacks++; } continue; }
    if (!isFinite(c)) c = 0;
    listed++;
    var frames = Array.isArray(s.frames) && s.frames.length ? s.frames : null;
    var node = root;
    root.value += v;
    root.count += c;
    var n = frames ? frames.length : 1;
    for (var j = 0; j < n; j++) {
      var f = frames ? frames[j] : null;
      var name = f && typeof f === "object" ? flameText(f["function"], 512) : "";
      var file = f && typeof f === "object" ? flameText(f.file, 1024) : "";
      var line = f && typeof f === "object" && isFinite(+f.line) ? +f.line : null;
      if (!frames) name = FLAME_NO_FRAME;
      else if ((!name || name === "?") && file) name = file.split(/[\\/]/).pop() + (line == null ? "" : ":" + line);
      else if (!name) name = "?";   // tracemalloc names no function ("?"): the file and line do
      var key = name + FLAME_SEP + file + FLAME_SEP + (line == null ? "" : line);
      if (!node.byKey) node.byKey = new Map();
      var kid = node.byKey.get(key);
      if (!kid) {
        var hue = hues.get(file);
        if (hue === undefined) { hue = file ? flameHue(file) : -1; hues.set(file, hue); }
        kid = flameNode(node, name, file, line, key, hue);
        node.byKey.set(key, kid);
      }
      kid.value += v;
      kid.count += c;
      node = kid;
    }
    node.self += v;
    if (node.depth > maxDepth) maxDepth = node.depth;
  }
  var total = kind === "allocated" ? +p.alloc_bytes : +p.inuse_bytes;
  var missing = +p.truncated > 0 ? +p.truncated : 0;
  if (kind !== "growth" && missing > 0 && isFinite(total) && total > root.value * (1 + 1e-9)) {
    var rest = flameNode(root, "[" + missing + " more stack" + (missing === 1 ? "" : "s") + ", not listed]", "", null, FLAME_SEP + "rest", -1);
    rest.value = rest.self = total - root.value;
    rest.other = true;
    if (!root.byKey) root.byKey = new Map();
    root.byKey.set(rest.key, rest);
    root.value = total;
    if (maxDepth < 1) maxDepth = 1;
  }
  flameSort(root);
  return { root: root, kind: kind, measure: m, shrunk: shrunk, shrunkStacks: shrunkStacks, listed: listed, maxDepth: maxDepth };
}

// Children as arrays, widest first (ties by name, so a refresh keeps the order).
function flameSort(root) {
  var todo = [root];
  while (todo.length) {
    var node = todo.pop();
    if (!node.byKey) { node.kids = []; continue; }
    node.kids = Array.from(node.byKey.values());
    node.byKey = null;
    node.kids.sort(function (a, b) { return b.value - a.value || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0); });
    for (var i = 0; i < node.kids.length; i++) todo.push(node.kids[i]);
  }
}

// The path of keys from the root to `node` (to find the same frame in the next profile).
export function flamePath(node) {
  var out = [];
  for (var n = node; n && n.parent; n = n.parent) out.push(n.key);
  return out.reverse();
}

// The deepest node of `tree` along `path`.
export function flameFind(tree, path) {
  var node = tree.root;
  for (var i = 0; i < (path ? path.length : 0); i++) {
    var next = null;
    for (var j = 0; j < node.kids.length; j++) if (node.kids[j].key === path[i]) { next = node.kids[j]; break; }
    if (!next) break;
    node = next;
  }
  return node;
}

// Marks the frames whose function, file or file:line holds `text` (any case); returns
// how many matched and the bytes under them (a match inside a match counted once), in
// all and within `under` (the zoomed frame).
export function flameSearch(tree, text, under) {
  var q = String(text || "").trim().toLowerCase();
  var frames = 0, todo = [tree.root];
  while (todo.length) {
    var node = todo.pop();
    node.match = !!q && node.parent !== null && !node.other && (node.name.toLowerCase().indexOf(q) >= 0 ||
      (node.file + (node.line == null ? "" : ":" + node.line)).toLowerCase().indexOf(q) >= 0);
    if (node.match) frames++;
    for (var i = 0; i < node.kids.length; i++) todo.push(node.kids[i]);
  }
  var bytes = frames ? flameCovered(tree.root) : 0;
  return { query: q, frames: frames, bytes: bytes, inView: frames && under ? flameCovered(under) : bytes };
}

// Bytes under `top` that lie under some match (a match above `top` covers all of it).
function flameCovered(top) {
  for (var a = top; a; a = a.parent) if (a.match) return top.value;
  var sum = 0, todo = [top];
  while (todo.length) {
    var node = todo.pop();
    if (node.match) { sum += node.value; continue; }
    for (var i = 0; i < node.kids.length; i++) todo.push(node.kids[i]);
  }
  return sum;
}

// A file's hue, the same in every profile and on every page: FNV-1a of its path picks
// one of 20 hues a golden angle apart, so that two files rarely look alike.
export function flameHue(file) {
  var h = 0x811c9dc5, s = String(file || "");
  for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return Math.round((h % 20) * 137.508) % 360;
}

// "12.3 %"; "<0.1 %" for a sliver, so that it does not read as nothing.
export function flameShare(part, whole) {
  if (!(whole > 0) || !isFinite(part)) return "\u2013";
  var pc = 100 * part / whole;
  if (pc > 0 && pc < 0.1) return "<0.1 %";
  return pc.toFixed(1) + " %";
}
