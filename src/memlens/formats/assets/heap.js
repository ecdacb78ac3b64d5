// A heap profile's offline page: the flame graph (flamegraph.js, inlined before this
// script with flametree.js and format.js) of the profile in the page's JSON block, never
// read from markup.
(function () {
  "use strict";
  var doc = JSON.parse(document.getElementById("memlens-data").textContent);
  var host = document.getElementById("flame");
  var graph = flameCreate(host, {});
  graph.setProfile(doc.profile);
  graph.redraw();
  // a stack of the table: its allocating frame searched for in the graph
  Array.prototype.forEach.call(document.querySelectorAll("button[data-find]"), function (b) {
    b.addEventListener("click", function () {
      graph.reset();
      graph.search(b.getAttribute("data-find"));
      host.scrollIntoView({ block: "start" });
    });
  });
  window.memlensFlame = graph;
  host.dataset.ready = "1";
})();
