// Small helpers the modules share: DOM writes that touch the page only on a change, and
// reading values from messages.

export function setText(el, text) { if (el && el.textContent !== text) el.textContent = text; }

export function setAttr(el, name, value) {
  if (!el) return;
  if (value == null) { if (el.hasAttribute(name)) el.removeAttribute(name); }
  else if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

// a number from a message field; null (not 0) when absent
export function num(x) { return x == null || x === "" || !isFinite(+x) ? null : +x; }

// the i-th value of a column, null past its end
export function pick(arr, i) { return arr && i >= 0 && i < arr.length ? arr[i] : null; }

// The rows a virtualised list draws: those in view from `top` over `height` pixels, and
// `overscan` more at each edge, as [first, last) of `n` rows `rowH` pixels high.
export function visibleRows(top, height, rowH, n, overscan) {
  var first = Math.max(0, Math.floor(top / rowH) - overscan);
  var last = Math.min(n, Math.ceil((top + height) / rowH) + overscan);
  return [first, Math.max(first, last)];
}
