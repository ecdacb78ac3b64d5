// "leak", "group_leak" and "threshold" messages, live and in the backfill's `alerts` (see
// docs/protocol.md): a banner per active alert (one per group for a group's leak, which
// holds its members' own: groupbanner.js), a badge on the target's card, a marker on
// the chart. "growing" (the calm live level: the floor rises, not an alarm) is only the
// card's badge, with its rate, and the live rule's sentence as its title. Every alert is kept once, however many backfills repeat it; what an alert
// shows is decided by the newest one of its banner (a target's leak, or a target's metric).

import { fillStacks } from "./alertstacks.js";
import { chartEl } from "./chart.js";
import { fmtBytes, fmtWhen } from "./format.js";
import { fillGroupBanner, foldedLeaks, groupLeakActive, isGroupLeak, validGroupLeak } from "./groupbanner.js";
import { needRender } from "./render.js";
import { alerts, state, store } from "./state.js";
import { labelOf } from "./targets.js";
import { num, setAttr, setText } from "./util.js";
import { setZoom } from "./zoom.js";

var ALERT_CAP = 2000;            // alerts held; the oldest go first
var SEVERITIES = ["low", "medium", "high", "critical"];
var METRIC_NAMES = { rss: "RSS", system_memory: "system memory", leak_rate: "leak rate", gc_growth: "gc growth" };

var BANNERS_SHOWN = 2;         // banners shown while folded (the exit banner counts): the chart stays in the first screen

var alertsEl = document.getElementById("alerts");
var alertTpl = document.getElementById("alert-tpl");
var bannerEls = new Map();     // banner id -> element
var exitEl = document.getElementById("exit-banner");
var moreEl = createMore();     // "and N more alerts": opens (and folds) the rest
var alertsOpen = false;

function alertId(a) {
  if (isGroupLeak(a)) return [a.type, a.group, +a.t, a.state, num(a.count), num(a.of)].join("|");
  return [a.type, a.key == null ? "" : a.key, +a.t, a.state, a.metric || ""].join("|");
}

function bannerIdOf(a) {
  if (isGroupLeak(a)) return "group_leak|" + a.group;
  if (a.type === "growing") return "growing|" + a.key;
  return a.type === "leak" ? "leak|" + a.key : "threshold|" + (a.metric || "") + "|" + (a.key == null ? "" : a.key);
}

function validAlert(a) {
  if (!a || typeof a !== "object" || num(a.t) == null || typeof a.state !== "string") return false;
  if (a.type === "leak" || a.type === "growing") return typeof a.key === "string";
  if (a.type === "group_leak") return validGroupLeak(a);
  return a.type === "threshold" && (a.key == null || typeof a.key === "string");
}

export function addAlerts(list) {
  if (!Array.isArray(list)) return;
  var added = 0;
  list.forEach(function (a) {
    if (!validAlert(a)) return;
    var id = alertId(a);
    if (alerts.seen.has(id)) return;
    alerts.seen.add(id);
    alerts.list.push({ id: id, banner: bannerIdOf(a), n: alerts.arrivals++, t: +a.t, msg: a });
    added++;
  });
  if (!added) return;
  alerts.list.sort(function (x, y) { return x.t - y.t || x.n - y.n; });
  if (alerts.list.length > ALERT_CAP) {
    alerts.list.splice(0, alerts.list.length - ALERT_CAP).forEach(function (e) {
      alerts.seen.delete(e.id);
      alerts.dismissed.delete(e.id);
    });
  }
  document.body.dataset.alerts = String(alerts.seen.size);
  refreshAlerts();
  needRender();
}

function severityOf(msg) {
  var s = msg.severity || (msg.finding && msg.finding.severity);
  return SEVERITIES.indexOf(s) >= 0 || s === "none" ? s : "medium";   // "none": a leak withdrawn
}

function onsetOf(msg) { return msg.finding ? num(msg.finding.onset) : null; }

function metricName(metric) { return METRIC_NAMES[metric] || String(metric || "value"); }

// What a banner shows now: "active", "withdrawn" (a leak cleared) or null (nothing).
function bannerMode(e) {
  var m = e.msg;
  if (m.type === "growing") return null;   // calm: the card says it, no banner
  if (isGroupLeak(m)) return groupLeakActive(m) ? "active" : null;   // cleared: the banner goes
  if (m.type === "leak") return m.state === "cleared" ? "withdrawn" : "active";
  return m.state === "above" ? "active" : null;
}

function refreshAlerts() {
  var latest = new Map(), markers = [], leakLast = new Map();
  alerts.list.forEach(function (e) {
    latest.set(e.banner, e);
    var m = e.msg;
    if (m.type === "growing" || isGroupLeak(m)) return;   // the members' leaks mark the chart
    if (m.type === "leak") {
      var raised = m.state !== "cleared";
      var mk = { t: e.t, key: m.key, kind: raised ? "leak" : "cleared", severity: severityOf(m), lo: null };
      var onset = onsetOf(m);
      if (raised && onset != null && onset < e.t) {
        // a raise repeated (a higher severity) shades on from the previous one: no overlap
        var prev = leakLast.get(m.key);
        mk.lo = prev != null ? Math.max(onset, prev) : onset;
        if (mk.lo >= e.t) mk.lo = null;
      }
      leakLast.set(m.key, e.t);
      markers.push(mk);
    } else {
      markers.push({ t: e.t, key: m.key == null ? null : m.key, kind: m.state === "above" ? "above" : "below", severity: null, lo: null });
    }
  });
  alerts.latest = latest;
  alerts.markers = markers;
  renderBanners();
  state.targets.forEach(refreshCardAlerts);
}

function renderBanners() {
  var want = [];
  var folded = foldedLeaks(alerts.latest);   // members' leaks a group's banner holds
  alerts.latest.forEach(function (e, bid) {
    var mode = bannerMode(e);
    if (mode && e.msg.type === "leak" && folded.has(e.msg)) mode = null;
    if (mode) want.push({ bid: bid, e: e, mode: mode });
  });
  // active leaks first, the most severe first; then limits; then withdrawn notes; newest first
  function rank(w) {
    if (w.mode === "withdrawn") return 0;
    var t = w.e.msg.type;
    return t === "leak" || t === "group_leak" ? 10 + SEVERITIES.indexOf(severityOf(w.e.msg)) + (t === "group_leak" ? 0.5 : 0) : 5;
  }
  want.sort(function (a, b) { return rank(b) - rank(a) || b.e.t - a.e.t; });

  var keep = new Set();
  var visible = 0, active = 0;
  var room = BANNERS_SHOWN - (exitEl && !exitEl.hidden ? 1 : 0);
  want.forEach(function (w, i) {
    keep.add(w.bid);
    var el = bannerEls.get(w.bid);
    if (!el) {
      el = createBanner(w.bid);
      bannerEls.set(w.bid, el);
    }
    fillBanner(el, w.e, w.mode);
    el.hidden = alerts.dismissed.has(w.e.id);
    if (!el.hidden) { visible++; if (w.mode === "active") active++; }
    // past the first few, banners wait behind "and N more alerts" unless it was opened
    el.toggleAttribute("data-folded", !el.hidden && !alertsOpen && visible > room);
    // move only what is out of place (a moved live region may be read out again)
    if (alertsEl.children[i] !== el) alertsEl.insertBefore(el, alertsEl.children[i] || null);
  });
  bannerEls.forEach(function (el, bid) {
    if (keep.has(bid)) return;
    el.remove();
    bannerEls.delete(bid);
  });
  alertsEl.hidden = visible === 0;
  setAttr(alertsEl, "data-active", String(active));
  fillMore(visible - room);
}

// The exit banner shares the room: the header calls this when it comes or goes.
export function refitBanners() { renderBanners(); }

function createMore() {
  var b = document.createElement("button");
  b.type = "button";
  b.className = "link-btn alerts-more";
  b.hidden = true;
  b.addEventListener("click", function () {
    alertsOpen = !alertsOpen;
    renderBanners();
  });
  alertsEl.appendChild(b);
  return b;
}

// The fold stays last in the list; with nothing behind it, it goes (and closes).
function fillMore(behind) {
  if (behind <= 0) alertsOpen = false;
  moreEl.hidden = behind <= 0;
  setText(moreEl, alertsOpen ? "show fewer alerts" : "and " + behind + " more alert" + (behind === 1 ? "" : "s"));
  setAttr(moreEl, "aria-expanded", String(alertsOpen));
  if (alertsEl.lastElementChild !== moreEl) alertsEl.appendChild(moreEl);
}

function createBanner(bid) {
  var el = alertTpl.content.firstElementChild.cloneNode(true);
  el.querySelector(".alert-dismiss").addEventListener("click", function () {
    var e = alerts.latest.get(bid);
    if (e) alerts.dismissed.add(e.id);
    renderBanners();
  });
  el.querySelector(".alert-show").addEventListener("click", function () { showOnChart(bid); });
  return el;
}

function fillBanner(el, e, mode) {
  var m = e.msg, isLeak = m.type === "leak" || isGroupLeak(m);
  setAttr(el, "data-banner", e.banner);
  setAttr(el, "data-alert-type", m.type);
  setAttr(el, "data-alert-key", isGroupLeak(m) ? null : m.key == null ? "system" : m.key);
  setAttr(el, "data-state", m.state);
  setAttr(el, "data-severity", isLeak ? severityOf(m) : null);
  setAttr(el, "data-metric", isLeak ? null : String(m.metric || ""));
  setAttr(el, "data-t", String(e.t));
  // a withdrawn leak is news, not an alarm
  setAttr(el, "role", mode === "withdrawn" ? "status" : "alert");
  var tag;
  if (isGroupLeak(m)) tag = "GROUP LEAK \u00b7 " + severityOf(m);
  else if (isLeak) tag = mode === "withdrawn" ? "leak withdrawn" : "LEAK \u00b7 " + severityOf(m);
  else tag = metricName(m.metric) + " over limit";
  setText(el.querySelector(".alert-tag"), tag);
  var textEl = el.querySelector(".alert-text");
  setText(textEl, typeof m.text === "string" && m.text ? m.text : alertFallbackText(m));
  textEl.title = textEl.textContent;   // the line may be cut short
  var when = el.querySelector(".alert-time");
  setText(when, fmtWhen(e.t));
  when.title = new Date(e.t * 1000).toString();
  el.querySelector(".alert-show").hidden = !(m.type === "leak" && state.targets.has(m.key));
  fillStacks(el.querySelector(".alert-stacks"), m);
  if (isGroupLeak(m)) fillGroupBanner(el, m);
}

function alertFallbackText(m) {
  var who = m.key == null ? "system" : (state.targets.has(m.key) ? labelOf(state.targets.get(m.key)) : m.key);
  if (m.type === "leak") return who + ": leak " + (m.state === "cleared" ? "withdrawn" : "(" + severityOf(m) + ")");
  return who + ": " + metricName(m.metric) + " " + m.state + " the limit";
}

// Zoom the chart onto a leak: from the onset its last raise gave to its newest alert.
function showOnChart(bid) {
  var last = alerts.latest.get(bid);
  if (!last) return;
  var t = last.t, onset = null;
  alerts.list.forEach(function (e) {
    if (e.banner === bid && e.msg.state !== "cleared" && onsetOf(e.msg) != null) onset = onsetOf(e.msg);
  });
  if (onset == null || onset > t) onset = t - 60;
  var pad = Math.max((t - onset) * 0.15, state.interval * 10, 2);
  var lo = onset - pad, hi = t + pad, times = store.times;
  if (times.length) {
    lo = Math.max(lo, times[0]);
    hi = Math.min(hi, times[times.length - 1]);
  }
  if (hi - lo < 1) return;
  setZoom([lo, hi]);
  chartEl.scrollIntoView({ block: "nearest" });
}

export function refreshCardAlerts(rec) {
  var c = rec.card;
  if (!c || !c.flags) return;
  var leak = alerts.latest.get("leak|" + rec.key);
  var leakOn = !!leak && leak.msg.state !== "cleared";
  var metrics = [], texts = [];
  alerts.latest.forEach(function (e) {
    var m = e.msg;
    if (m.type === "threshold" && m.key === rec.key && m.state === "above") {
      metrics.push(String(m.metric || ""));
      texts.push(m.text || "");
    }
  });
  var grow = alerts.latest.get("growing|" + rec.key);
  var growOn = !leakOn && !!grow && grow.msg.state !== "cleared";
  c.leak.hidden = !leakOn && !growOn;
  setAttr(c.leak, "data-severity", leakOn ? severityOf(leak.msg) : null);
  setAttr(c.leak, "data-level", leakOn ? "leak" : growOn ? "growing" : null);
  if (leakOn) {
    setText(c.leak, "LEAK \u00b7 " + severityOf(leak.msg));
    c.leak.title = leak.msg.text || "";
  } else if (growOn) {
    var rate = num(grow.msg.rate);
    setText(c.leak, "growing" + (rate != null && rate > 0 ? " \u00b7 " + fmtBytes(rate * 60) + "/min" : ""));
    c.leak.title = typeof grow.msg.text === "string" ? grow.msg.text : "";
  }
  c.threshold.hidden = metrics.length === 0;
  setAttr(c.threshold, "data-metric", metrics.length ? metrics.join(" ") : null);
  if (metrics.length) {
    setText(c.threshold, metrics.map(metricName).join(", ") + " over limit");
    c.threshold.title = texts.join("\n");
  }
  c.flags.hidden = !leakOn && !growOn && !metrics.length;
  setAttr(c.root, "data-leak", leakOn ? severityOf(leak.msg) : null);
}
