// A group's leak ("group_leak" messages, docs/protocol.md): one banner for the group,
// "64 of 64 processes of gunicorn leak, about 3.0 MB/min each", instead of one per member.
// The alert engine re-sends it when the counts change (the banner is updated in place, it
// is one banner per group) and clears it (the banner goes). While it stands, the leak
// banners of its members are folded into it: the banner opens on a list of them, each a
// button that pins the member on the chart. Their cards keep their own badges.
//
// The group's label and the members' names are the watched processes' own text: written
// with textContent only, their control characters made visible.

import { chartEl } from "./chart.js";
import { fmtBytes } from "./format.js";
import { togglePin } from "./groupchart.js";
import { groupOf } from "./groups.js";
import { state, view } from "./state.js";
import { labelOf } from "./targets.js";
import { num, setAttr, setText } from "./util.js";

var MEMBERS_SHOWN = 100;   // as many as the message names

function visible(text) { return String(text).replace(/[\u0000-\u001f\u007f]/g, "\u00b7"); }

export function validGroupLeak(a) {
  return a.type === "group_leak" && typeof a.group === "string" && a.group.length > 0;
}

export function isGroupLeak(m) { return m.type === "group_leak"; }

// The group banner stands until the engine clears it.
export function groupLeakActive(m) { return m.state !== "cleared"; }

// The leak alerts a standing group banner holds: those of the members it names, and those
// of any process of its group (a member's alert names its group; past the 100 members a
// message names, the page knows the group of each target). latest: banner id -> its
// newest entry.
export function foldedLeaks(latest) {
  var keys = new Set(), groups = new Set();
  latest.forEach(function (e) {
    var m = e.msg;
    if (!isGroupLeak(m) || !groupLeakActive(m)) return;
    groups.add(m.group);
    if (Array.isArray(m.members)) m.members.forEach(function (k) { if (typeof k === "string") keys.add(k); });
  });
  return {
    has: function (m) {
      if (keys.has(m.key) || (typeof m.group === "string" && groups.has(m.group))) return true;
      var rec = state.targets.get(m.key);
      return !!rec && groups.has(groupOf(rec));
    },
    size: groups.size,
  };
}

// analysis/groups.group_leak_text, for a message that carries no text.
export function groupLeakText(m) {
  var count = num(m.count), of = num(m.of), rate = num(m.rate_each);
  var text = (count == null ? "?" : count) + " of " + (of == null ? "?" : of) + " " +
    (of === 1 ? "process" : "processes") + " of " + m.group + " " + (count === 1 ? "leaks" : "leak");
  if (rate != null && rate > 0) text += ", about " + fmtBytes(rate * 60) + "/min" + (count === 1 ? "" : " each");
  return text;
}

// The group's part of a banner: its attributes, its text, the list of its members.
export function fillGroupBanner(el, m) {
  setAttr(el, "data-group", visible(m.group));
  setAttr(el, "data-count", num(m.count) == null ? null : String(num(m.count)));
  setAttr(el, "data-of", num(m.of) == null ? null : String(num(m.of)));
  var text = typeof m.text === "string" && m.text ? m.text : groupLeakText(m);
  setText(el.querySelector(".alert-text"), visible(text));
  el.querySelector(".alert-text").title = visible(text);
  var d = el.querySelector(".alert-members");
  if (!d) {
    d = document.createElement("details");
    d.className = "alert-members";
    var sm = document.createElement("summary");
    sm.className = "alert-members-summary";
    d.appendChild(sm);
    d.appendChild(document.createElement("ul")).className = "alert-member-list";
    el.appendChild(d);
  }
  var members = Array.isArray(m.members) ? m.members.filter(function (k) { return typeof k === "string"; }) : [];
  members = members.slice(0, MEMBERS_SHOWN);
  d.hidden = members.length === 0;
  setText(d.querySelector("summary"), "the leaking processes (" + members.length +
    (num(m.count) != null && num(m.count) > members.length ? " of " + num(m.count) : "") + ")");
  var sig = members.join(",");
  var ul = d.querySelector("ul");
  if (ul.getAttribute("data-sig") === sig) return;
  ul.setAttribute("data-sig", sig);
  ul.textContent = "";
  members.forEach(function (k) {
    var rec = state.targets.get(k);
    var li = document.createElement("li");
    li.setAttribute("data-key", k);
    var b = document.createElement("button");
    b.type = "button";
    b.className = "link-btn alert-member";
    b.textContent = rec ? visible(labelOf(rec)) : k;
    b.title = "pin it on the chart";
    b.addEventListener("click", function () {
      if (!view.pinned.has(k)) togglePin(k);
      chartEl.scrollIntoView({ block: "nearest" });
    });
    li.appendChild(b);
    ul.appendChild(li);
  });
}
