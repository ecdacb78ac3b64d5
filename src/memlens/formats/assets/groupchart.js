// A chart of a few lines and one "others" band (formats/group_chart.py builds its data):
// a group's sum and mean, its largest members, the rest from lowest to highest. Shared by
// the HTML export and the report; fmtBytes and BYTE_INCRS come from format.js, inlined
// before this script. Each line has its own times: uPlot.join aligns them, and a moment
// a line has no sample at (undefined) is spanned, an unknown value (null) left a gap.
function drawLines(el, chart, height) {
  "use strict";
  var lines = chart.lines.filter(function (l) { return l.t.length > 0; });
  if (!lines.length) {
    el.textContent = "No samples were recorded.";
    el.dataset.ready = "empty";
    return null;
  }
  var data = uPlot.join(lines.map(function (l) { return [l.t, l.v]; }));
  var series = [{}], high = -1, low = -1;
  lines.forEach(function (l, i) {
    series.push({
      label: l.label,
      stroke: l.color,
      width: l.width,
      dash: l.dash ? [6, 4] : undefined,
      value: function (u, v) { return fmtBytes(v); }
    });
    if (l.band === "high") high = i + 1;
    if (l.band === "low") low = i + 1;
  });
  var bands = high > 0 && low > 0 ? [{ series: [high, low], fill: chart.fill }] : [];
  function width() { return Math.max(320, el.clientWidth || 900); }
  var plot = new uPlot({
    width: width(),
    height: height,
    series: series,
    bands: bands,
    scales: { x: { time: true } },
    axes: [
      {},
      { size: 80, incrs: BYTE_INCRS, values: function (u, vals) { return vals.map(fmtBytes); } }
    ]
  }, data, el);
  window.addEventListener("resize", function () {
    plot.setSize({ width: width(), height: height });
  });
  el.dataset.lines = String(lines.length);
  el.dataset.bands = String(bands.length);
  el.dataset.ready = "1";
  return plot;
}
