// Sparklines on a canvas: a target's RSS over the visible window, drawn in one path of
// at most two points per pixel column (its lowest and highest), so a long window costs
// what a short one does. The scale is the line's own (its shape, not its size: the
// table's RSS and growth columns give the size).

export var SPARK_W = 96, SPARK_H = 20;

export function drawSpark(canvas, col, i0, i1, color) {
  var dpr = window.devicePixelRatio || 1;
  var w = SPARK_W, h = SPARK_H;
  if (canvas.width !== Math.round(w * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    canvas.style.width = w + "px";
    canvas.style.height = h + "px";
  }
  var ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  if (!col || i1 - i0 < 2) { canvas.removeAttribute("data-points"); return; }
  var lo = Infinity, hi = -Infinity, count = 0;
  for (var i = i0; i < i1; i++) {
    var v = col[i];
    if (v == null) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    count++;
  }
  canvas.setAttribute("data-points", String(count));
  if (count < 2) return;
  var span = hi - lo || 1, n = i1 - i0;
  function y(v) { return hi === lo ? h / 2 : h - 2 - (v - lo) / span * (h - 4); }
  ctx.beginPath();
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.25;
  ctx.lineJoin = "round";
  var started = false, px = -1, cMin = 0, cMax = 0, cFirst = null;
  function flush() {
    if (px < 0 || cFirst == null) return;
    var x = px + 0.5;
    if (!started) { ctx.moveTo(x, y(cFirst)); started = true; }
    ctx.lineTo(x, y(cMin));
    if (cMax !== cMin) ctx.lineTo(x, y(cMax));
  }
  for (var j = i0; j < i1; j++) {
    var val = col[j];
    if (val == null) continue;
    var p = Math.min(w - 1, Math.floor((j - i0) / n * w));
    if (p !== px) { flush(); px = p; cMin = cMax = cFirst = val; }
    else { if (val < cMin) cMin = val; if (val > cMax) cMax = val; }
  }
  flush();
  ctx.stroke();
}
