// The socket, reconnected with back-off, and the connection state shown in the header.

import { BACKOFF_MAX, BACKOFF_MIN } from "./constants.js";
import { getJSON } from "./http.js";
import { onMessage } from "./messages.js";
import { needRender } from "./render.js";
import { conn, state } from "./state.js";
import { wsUrl } from "./url.js";
import { setText } from "./util.js";

export var connEl = document.getElementById("conn-state");
var connText = document.getElementById("conn-text");

export function setConn(s, text) {
  if (connEl.getAttribute("data-state") !== s) connEl.setAttribute("data-state", s);
  setText(connText, text);
}

export function connect() {
  clearTimeout(conn.reconnectTimer);
  clearInterval(conn.countdownTimer);
  conn.helloSeen = false;
  if (conn.everConnected || conn.backoffAttempt > 0) setConn("reconnecting", "reconnecting…" + conn.authHint);
  else setConn("connecting", "connecting…");
  var sock;
  try { sock = new WebSocket(wsUrl()); } catch (e) { scheduleReconnect(); return; }
  conn.ws = sock;
  sock.onopen = function () {
    if (conn.ws !== sock) return;
    clearInterval(conn.pingTimer);
    conn.pingTimer = setInterval(function () {
      if (sock.readyState === 1) { try { sock.send("ping"); } catch (e) { /* closing */ } }
    }, 25000);
  };
  sock.onmessage = function (ev) { if (conn.ws === sock) onMessage(ev); };
  sock.onerror = function () { /* a close event follows */ };
  sock.onclose = function () {
    if (conn.ws !== sock) return;
    conn.ws = null;
    clearInterval(conn.pingTimer);
    clearTimeout(conn.connectedFallback);
    if (conn.helloSeen) conn.everConnected = true;
    state.connected = false;
    if (!conn.helloSeen && !conn.everConnected && !conn.authProbed) { conn.authProbed = true; probeAuth(); }
    scheduleReconnect();
    needRender();
  };
}

function scheduleReconnect() {
  var base = Math.min(BACKOFF_MAX, BACKOFF_MIN * Math.pow(2, conn.backoffAttempt));
  var delay = Math.round(base * (0.75 + Math.random() * 0.5));
  delay = Math.min(delay, BACKOFF_MAX);
  conn.backoffAttempt++;
  var due = Date.now() + delay;
  var tickDown = function () {
    var left = Math.max(0, due - Date.now());
    setConn("reconnecting", "reconnecting in " + (left / 1000).toFixed(1) + " s" + conn.authHint);
  };
  tickDown();
  clearInterval(conn.countdownTimer);
  conn.countdownTimer = setInterval(tickDown, 100);
  clearTimeout(conn.reconnectTimer);
  conn.reconnectTimer = setTimeout(connect, delay);
}

// a socket that closes before hello may be an auth failure: ask the API why
function probeAuth() {
  getJSON("api/targets").then(function () { conn.authHint = ""; }).catch(function (e) {
    conn.authHint = e && (e.status === 401 || e.status === 403) ? " · access denied (" + e.status + "): open the URL memlens printed, with its ?token=" : "";
  });
}

function reconnectNow() {
  if (conn.ws || !conn.reconnectTimer) return;
  connect();
}

// come back quickly when the tab returns or the network does
document.addEventListener("visibilitychange", function () {
  if (document.visibilityState === "visible") { reconnectNow(); needRender(); }
});
window.addEventListener("online", reconnectNow);
