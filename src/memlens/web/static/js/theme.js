// The colours of the charts, read from the style sheet's custom properties.

var PALETTE_LIGHT = ["#2f6fde", "#e0662d", "#1a9a73", "#b83b7d", "#7a55d6", "#1b92ad", "#c48a08", "#5c8f1f", "#d0453e", "#58657a"];
var PALETTE_DARK = ["#6ea0ff", "#ff9a62", "#43c99b", "#e77ab4", "#a98bff", "#4cc3df", "#e8b73c", "#98c956", "#ff7a72", "#a3afc2"];
export var darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

export function readTheme() {
  var cs = getComputedStyle(document.documentElement);
  function v(name, dflt) { var s = cs.getPropertyValue(name).trim(); return s || dflt; }
  var dark = !!(darkQuery && darkQuery.matches);
  return {
    dark: dark,
    axis: v("--chart-axis", "#5d6b7c"),
    grid: v("--chart-grid", "rgba(120,130,150,0.16)"),
    palette: dark ? PALETTE_DARK : PALETTE_LIGHT,
    severity: {
      low: v("--sev-low", "#3f6fb8"),
      medium: v("--sev-medium", "#a86f00"),
      high: v("--sev-high", "#c9541c"),
      critical: v("--sev-critical", "#c62f38"),
    },
    limit: v("--alert-limit", "#b7791f"),
    quiet: v("--stop", "#8a94a3"),
    pyHeap: v("--py-heap", dark ? "#e8b73c" : "#b06a00"),
    pyGc: v("--py-gc", dark ? "#a98bff" : "#7a55d6"),
    pyBlocks: v("--py-blocks", dark ? "#43c99b" : "#1a9a73"),
  };
}

export function hexToRgba(hex, alpha) {
  var n = parseInt(hex.slice(1), 16);
  return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
}
