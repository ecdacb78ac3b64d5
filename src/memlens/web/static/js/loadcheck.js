// A classic script, not a module: when one of the dashboard's modules fails to load (a
// file missing from the install, a syntax error, a refused request), the module graph
// runs none of them, and the page would sit at "connecting…" with nothing but a console
// message to say why. main.js sets window.memlens last; by the load event it is there, or
// the header says that the page is broken.
(function () {
  "use strict";
  window.addEventListener("load", function () {
    if (window.memlens) return;
    var conn = document.getElementById("conn-state");
    var text = document.getElementById("conn-text");
    if (conn) conn.setAttribute("data-state", "failed");
    if (text) text.textContent = "the page's scripts did not load: reload it, or see the browser console";
    document.body.setAttribute("data-load-failed", "true");
  });
})();
