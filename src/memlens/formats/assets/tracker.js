// The tracker page's charts: the tracked memory (steps: it changes at events) and the
// machine's memory. fmtBytes and BYTE_INCRS come from format.js, inlined before this
// script.
(function () {
  "use strict";
  var doc = JSON.parse(document.getElementById("memlens-data").textContent);

  function width(el) { return Math.max(320, el.clientWidth || 900); }
  function draw(id, chart) {
    var el = document.getElementById(id);
    if (!el) return 0;
    if (!chart || !chart.t.length) {
      el.textContent = "Nothing was recorded.";
      el.dataset.ready = "empty";
      return 0;
    }
    var series = [{}], data = [chart.t];
    chart.lines.forEach(function (line) {
      var spec = { label: line.label, stroke: line.color, width: 1.5,
                   value: function (u, v) { return fmtBytes(v); } };
      // Tracked memory changes at events and holds between them: drawn as steps.
      if (line.stepped) spec.paths = uPlot.paths.stepped({ align: 1 });
      series.push(spec);
      data.push(line.values);
    });
    var plot = new uPlot({
      width: width(el), height: 280, series: series, scales: { x: { time: true } },
      axes: [{}, { size: 80, incrs: BYTE_INCRS,
                   values: function (u, vals) { return vals.map(fmtBytes); } }]
    }, data, el);
    window.addEventListener("resize", function () {
      plot.setSize({ width: width(el), height: 280 });
    });
    el.dataset.points = String(chart.t.length);
    el.dataset.ready = "1";
    return 1;
  }
  var n = draw("memory-chart", doc.memory) + draw("system-chart", doc.system);
  document.body.dataset.charts = String(n);
})();
