/* memlens dashboard: live RSS chart fed by the /ws stream (see docs/protocol.md).

   The entry module: it starts the page once every module is loaded. Each module holds one
   part of the page; the state they share is in state.js.

   Hooks for tests (kept stable):
     #conn-state[data-state]          connecting | connected | reconnecting ("connected" once the
                                      backfill is drawn; [data-mode] is "live" or "recording")
     .target-card[data-key][data-state][data-points][data-bucketed]
                                      data-points: points of that target in the visible range;
                                      data-bucketed: its M4 bucket points in the latest backfill
     [data-stat=current|min|max|avg][data-bytes]   stats over the visible range, in bytes
     #exit-banner, button[data-window]
     #target-table[data-rows][data-total]
                                      the targets' table (shown past 8 targets, instead of the cards):
                                      data-rows: rows the search leaves, of data-total;
                                      #table-search; th[data-col][aria-sort] (button: sorts);
                                      tr.tt-row[data-key][data-pid][data-kind][data-rss][data-growth][data-leak]
                                      the rows in the page (only those in view: it is virtualised)
     #cards[data-mode=detail]         table mode: the one card is the open target's (close: [data-role=close])
     #target-picker, #picker-button, #picker[data-rows], #picker-search, .picker-item[data-key][data-pid]
                                      past 6 targets the header's count and its picker; pinned
                                      targets: #target-chips .chip[data-pinned]
     body[data-ticks]                 ticks received
     body[data-bucketed-points]       sum of backfill.bucketed of the latest backfill
     body[data-detail-requests]       /api/range answers applied and drawn (zoom detail)
     body[data-alerts]                distinct alerts received (leak and threshold messages)
     #alerts .alert-banner[data-alert-type][data-alert-key][data-state][data-severity][data-metric]
                                      one per alert in force (a leak: per target; a threshold: per
                                      target and metric; data-alert-key "system" for the machine);
                                      data-state raised | cleared (a quiet "withdrawn" note) | above;
                                      hidden once dismissed (.alert-dismiss)
     .target-card[data-leak] [data-role=leak][data-severity], [data-role=threshold][data-metric]
                                      badges of the target's alerts in force
     #chart[data-markers][data-markers-visible]
                                      alert markers of the charted targets: held, and drawn in view
     #python-panel[data-key][data-tracing][data-heap-points]
                                      the Python panel, shown when a target runs the agent; data-key:
                                      the process shown (#python-target picks one when several);
                                      data-heap-points: traced-heap points in the visible range
     [data-role=heap-gap][data-bytes] RSS - traced heap of the newest sample (no data-bytes: unknown)
     [data-role=trace-toggle][data-tracing], [data-role=frames], [data-role=trace-error], [data-role=trace-note]
     [data-role=gc-pauses][data-count] gc pauses seen since the page opened (no data-count: no answer yet)
     [data-role=py-blocks][data-trend], [data-role=gc-collections], [data-role=gc-uncollectable]
     #python-top tbody tr[data-file][data-line]   the latest top allocation sites, by growth
     [data-role=hp][data-running][data-sampler][data-view]
                                      the heap profile: the profiler runs (true|false), its sampler
                                      (sampling|tracemalloc), the graph shows inuse | growth (since
                                      the mark [data-role=hp-view] names); [data-role=hp-toggle],
                                      [data-role=hp-mark], [data-role=hp-error], [data-role=hp-note]
     #python-flame[data-fg-kind][data-fg-total][data-fg-frames][data-fg-zoom][data-fg-match-share]
                                      its flame graph (flamegraph.js): what it draws, the frame it is
                                      zoomed into, the share the search matches (percent);
                                      memlens.heap.flame() is its handle (frames(), locate(name))
     [data-role=top-empty]            shown while there are none
     #where-panel[data-key][data-readings]
                                      where the memory lives (hidden until a memory map is read);
                                      #where-chart polygon[data-category][data-rss] (RSS now),
                                      #where-legend li[data-category][data-rss],
                                      #where-grew tbody tr[data-label][data-start][data-category][data-growth]
                                      the mappings that grew most since #where-since's moment
     #system-strip[data-points]       the machine's figures (hidden while the server sends none);
                                      data-points: readings in the visible range
     #system-strip [data-metric=cpu_percent|mem_percent|swap_used|disk_read_bps|disk_write_bps|net_rx_bps|net_tx_bps|gpu]
                                      a tile: [data-value] the raw figure shown (percent, bytes,
                                      bytes/s; GPU: utilisation percent, with [data-gpu] its index),
                                      [data-role=value] its text, [data-points] sparkline points;
                                      mem_percent also [data-used][data-total] in bytes
*/

import { refreshCardStatic } from "./cards.js";
import { chartEl, makeChart, onResize } from "./chart.js";
import { resetChips } from "./header.js";
import { pyDestroyCharts } from "./python/charts.js";
import { heapView } from "./python/heap.js";
import { render, renderNow } from "./render.js";
import { connect } from "./socket.js";
import { alerts, detail, grouping, py, state, store, sys, ui } from "./state.js";
import { darkQuery, readTheme } from "./theme.js";
import "./python/switch.js";   // the switch's handlers: it exports nothing
import "./where/view.js";      // the "where" panel draws itself as readings arrive

// The theme changed (a dark mode switch): charts are made again in its colours.
function onThemeChange() {
  ui.theme = readTheme();
  if (ui.chart) {
    ui.chart.destroy();
    ui.chart = null;
    ui.chartKeys = [];
  }
  pyDestroyCharts();
  state.targets.forEach(refreshCardStatic);
  resetChips();
  renderNow();
}

if (darkQuery) {
  if (darkQuery.addEventListener) darkQuery.addEventListener("change", onThemeChange);
  else if (darkQuery.addListener) darkQuery.addListener(onThemeChange);
}

if (window.ResizeObserver) new ResizeObserver(onResize).observe(chartEl.parentElement);
window.addEventListener("resize", onResize);

document.body.dataset.ticks = "0";
document.body.dataset.bucketedPoints = "0";
document.body.dataset.detailRequests = "0";
document.body.dataset.alerts = "0";
makeChart();
render();
connect();

// small read-only handle for debugging from the console
window.memlens = {
  state: state,
  store: store,
  detail: detail,
  alerts: alerts,
  grouping: grouping,
  python: py,
  heap: heapView,
  system: sys,
  chart: function () { return ui.chart; },
};
