// Where the page talks to: the API and the socket, relative to the page, with its token.

var params = new URLSearchParams(location.search);
var token = params.get("token");
var basePath = location.pathname.replace(/[^/]*$/, "") || "/";

function withToken(path) {
  if (!token) return path;
  return path + (path.indexOf("?") >= 0 ? "&" : "?") + "token=" + encodeURIComponent(token);
}

export function wsUrl() {
  var proto = location.protocol === "https:" ? "wss:" : "ws:";
  return proto + "//" + location.host + withToken(basePath + "ws");
}

export function apiUrl(path) {
  return withToken(basePath + path);
}
