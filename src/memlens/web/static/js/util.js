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
