// Alert markers on the RSS chart: the leak windows shaded under the lines (overlapping
// windows as one: the chart's data-leak-shades counts them), the alert times over them.

import { chartEl, colorOf, processSeriesCount } from "./chart.js";
import { alerts, ui } from "./state.js";
import { setAttr } from "./util.js";

var markerKeyEl = document.getElementById("marker-key");
// markers of the targets on the chart (a series hidden from the legend hides its own)
function markerShown(u, mk) {
  if (mk.key == null) return true;
  var i = ui.chartKeys.indexOf(mk.key);
  return i >= 0 && !!u.series[i + 1] && u.series[i + 1].show !== false;
}

export function updateMarkerCount() {
  var n = 0;
  alerts.markers.forEach(function (mk) { if (mk.key == null || ui.chartKeys.indexOf(mk.key) >= 0) n++; });
  setAttr(chartEl, "data-markers", String(n));
  markerKeyEl.hidden = n === 0;
}

function clipToPlot(u, ctx) {
  var b = u.bbox;
  ctx.beginPath();
  ctx.rect(b.left, b.top, b.width, b.height);
  ctx.clip();
}

var SEVERITY_RANK = ["low", "medium", "high", "critical"];

// The leak windows on screen as disjoint spans, [lo, hi, severity]: windows that overlap
// (several members of a group leaking at once) are one span, of the worst severity among
// them, so that stacked shades never darken the chart into one tan block.
function shadeSpans(u) {
  var xs = u.scales.x, wins = [];
  alerts.markers.forEach(function (mk) {
    if (mk.lo == null || mk.t < xs.min || mk.lo > xs.max || !markerShown(u, mk)) return;
    wins.push([Math.max(mk.lo, xs.min), Math.min(mk.t, xs.max), mk.severity]);
  });
  wins.sort(function (a, b) { return a[0] - b[0]; });
  var spans = [];
  wins.forEach(function (w) {
    var last = spans[spans.length - 1];
    if (!last || w[0] > last[1]) { spans.push(w.slice()); return; }
    last[1] = Math.max(last[1], w[1]);
    if (SEVERITY_RANK.indexOf(w[2]) > SEVERITY_RANK.indexOf(last[2])) last[2] = w[2];
  });
  return spans;
}

export function drawMarkerShades(u) {
  var xs = u.scales.x, ctx = u.ctx, b = u.bbox;
  var spans = alerts.markers.length && xs.min != null ? shadeSpans(u) : [];
  setAttr(chartEl, "data-leak-shades", String(spans.length));
  if (!spans.length) return;
  ctx.save();
  clipToPlot(u, ctx);
  ctx.globalAlpha = ui.theme.dark ? 0.16 : 0.11;
  spans.forEach(function (sp) {
    var x0 = u.valToPos(sp[0], "x", true), x1 = u.valToPos(sp[1], "x", true);
    ctx.fillStyle = ui.theme.severity[sp[2]] || ui.theme.limit;
    ctx.fillRect(x0, b.top, Math.max(1, x1 - x0), b.height);
  });
  ctx.restore();
}

export function drawMarkerLines(u) {
  var xs = u.scales.x, ctx = u.ctx, b = u.bbox, px = uPlot.pxRatio || 1, shown = 0;
  if (alerts.markers.length && xs.min != null) {
    ctx.save();
    clipToPlot(u, ctx);
    alerts.markers.forEach(function (mk) {
      if (mk.t < xs.min || mk.t > xs.max || !markerShown(u, mk)) return;
      shown++;
      var x = Math.round(u.valToPos(mk.t, "x", true));
      var color, width, dash = [];
      if (mk.kind === "leak") { color = ui.theme.severity[mk.severity] || ui.theme.limit; width = 2; }
      else if (mk.kind === "cleared") { color = ui.theme.quiet; width = 1.5; dash = [5, 4]; }
      else if (mk.kind === "above") { color = ui.theme.limit; width = 1; dash = [3, 3]; }
      else { color = ui.theme.quiet; width = 1; dash = [3, 3]; }
      ctx.strokeStyle = color;
      ctx.lineWidth = width * px;
      ctx.setLineDash(dash.map(function (d) { return d * px; }));
      ctx.beginPath();
      ctx.moveTo(x + 0.5, b.top);
      ctx.lineTo(x + 0.5, b.top + b.height);
      ctx.stroke();
      if (mk.kind === "leak" || mk.kind === "above") {
        // a small flag on top, in the target's colour, says whose alert it is
        var s = (mk.kind === "leak" ? 6 : 4) * px;
        ctx.setLineDash([]);
        ctx.fillStyle = color;
        ctx.beginPath();
        ctx.moveTo(x + 0.5 - s, b.top);
        ctx.lineTo(x + 0.5 + s, b.top);
        ctx.lineTo(x + 0.5, b.top + s * 1.3);
        ctx.closePath();
        ctx.fill();
        if (mk.key != null && processSeriesCount() > 1) {
          ctx.fillStyle = colorOf(mk.key);
          ctx.fillRect(x + 0.5 - s / 2, b.top, s, s / 2);
        }
      }
    });
    ctx.restore();
  }
  setAttr(chartEl, "data-markers-visible", String(shown));
}
