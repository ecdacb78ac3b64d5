// The HTML export's chart: every target's RSS, from the page's JSON block (never from
// markup); past a few processes, the groups (`overview`, and one chart per large group,
// drawn by groupchart.js's drawLines). fmtBytes and BYTE_INCRS come from format.js,
// inlined before this script.
(function () {
  "use strict";
  var doc = JSON.parse(document.getElementById("memlens-data").textContent);

  var el = document.getElementById("chart");
  if (doc.overview) {
    drawLines(el, doc.overview, 360);
    doc.groups.forEach(function (chart, index) {
      drawLines(document.getElementById("chart-g" + index), chart, 300);
    });
    document.body.dataset.groupCharts = String(doc.groups.length);
    return;
  }
  var targets = doc.series.filter(function (s) { return s.t.length > 0; });
  if (!targets.length) {
    el.textContent = "No samples were recorded.";
    el.dataset.ready = "empty";
    return;
  }
  // undefined (no sample of this target at that time) is spanned; null (RSS unknown) is a gap.
  var data = uPlot.join(targets.map(function (s) { return [s.t, s.rss]; }));
  var series = [{}];
  targets.forEach(function (s) {
    series.push({
      label: s.label,
      stroke: s.color,
      width: 1.5,
      value: function (u, v) { return fmtBytes(v); }
    });
  });
  function width() { return Math.max(320, el.clientWidth || 900); }
  var plot = new uPlot({
    width: width(),
    height: 360,
    series: series,
    scales: { x: { time: true } },
    axes: [
      {},
      { size: 80, incrs: BYTE_INCRS, values: function (u, vals) { return vals.map(fmtBytes); } }
    ]
  }, data, el);
  window.addEventListener("resize", function () {
    plot.setSize({ width: width(), height: 360 });
  });
  el.dataset.ready = "1";
})();
