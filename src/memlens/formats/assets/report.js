// The report's charts: each target's RSS with its leak windows shaded, its alerts and exit
// marked, and its RSS limit drawn; and each large group's chart (groupchart.js's
// drawLines). fmtBytes and BYTE_INCRS come from format.js, inlined before this script.
(function () {
  "use strict";
  var doc = JSON.parse(document.getElementById("memlens-data").textContent);

  var BAND = doc.band, MARKS = doc.markColors;
  var plots = [];
  doc.charts.forEach(function (c, index) {
    var el = document.getElementById("chart-" + index);
    if (!c.t.length) {
      el.textContent = "No samples in this period.";
      el.dataset.ready = "empty";
      return;
    }
    function shade(u) {
      var ctx = u.ctx, box = u.bbox, drawn = [];
      ctx.save();
      ctx.fillStyle = BAND;
      c.windows.forEach(function (w) {
        var x0 = Math.max(box.left, u.valToPos(w[0], "x", true));
        var x1 = Math.min(box.left + box.width, u.valToPos(w[1], "x", true));
        if (x1 < x0) return;
        ctx.fillRect(x0, box.top, Math.max(1, x1 - x0), box.height);
        var r = window.devicePixelRatio || 1;
        drawn.push([Math.round(x0 / r), Math.round(x1 / r)].join(","));
      });
      ctx.restore();
      var r = window.devicePixelRatio || 1;
      el.dataset.plot = [box.top / r, box.height / r].map(Math.round).join(",");
      el.dataset.windows = String(drawn.length);
      el.dataset.band = drawn.join(";");
    }
    function mark(u) {
      var ctx = u.ctx, box = u.bbox, count = 0;
      ctx.save();
      ctx.lineWidth = 2 * (window.devicePixelRatio || 1);
      ctx.setLineDash([6, 4]);
      c.marks.forEach(function (m) {
        var x = u.valToPos(m.t, "x", true);
        if (x < box.left || x > box.left + box.width) return;
        ctx.strokeStyle = MARKS[m.kind] || "#333";
        ctx.beginPath();
        ctx.moveTo(x, box.top);
        ctx.lineTo(x, box.top + box.height);
        ctx.stroke();
        count++;
      });
      if (c.limit != null) {
        var y = u.valToPos(c.limit, "y", true);
        if (y >= box.top && y <= box.top + box.height) {
          ctx.strokeStyle = MARKS.threshold;
          ctx.beginPath();
          ctx.moveTo(box.left, y);
          ctx.lineTo(box.left + box.width, y);
          ctx.stroke();
        }
      }
      ctx.restore();
      el.dataset.marks = String(count);
    }
    function width() { return Math.max(320, el.clientWidth || 900); }
    var plot = new uPlot({
      width: width(),
      height: 300,
      series: [{}, {
        label: c.label + " RSS",
        stroke: c.color,
        width: 1.5,
        value: function (u, v) { return fmtBytes(v); }
      }],
      scales: { x: { time: true } },
      axes: [
        {},
        { size: 80, incrs: BYTE_INCRS, values: function (u, vals) { return vals.map(fmtBytes); } }
      ],
      hooks: { drawClear: [shade], draw: [mark] }
    }, [c.t, c.rss], el);
    plots.push({ el: el, plot: plot, width: width });
    el.dataset.points = String(c.t.length);
    el.dataset.ready = "1";
  });
  window.addEventListener("resize", function () {
    plots.forEach(function (p) { p.plot.setSize({ width: p.width(), height: 300 }); });
  });
  document.body.dataset.charts = String(plots.length);
  // The largest groups' charts: the sum, the mean, the top members, the others' band.
  (doc.groups || []).forEach(function (chart, index) {
    drawLines(document.getElementById("chart-g" + index), chart, 300);
  });
  document.body.dataset.groupCharts = String((doc.groups || []).length);
})();
