// The dashboard's shared mutable state, in one place: every module that reads or changes
// it imports these objects (never a copy of a field), so what one module sets the next
// render sees. Each object belongs to one part of the page; the comments say whose.

import { DEFAULT_FIELDS, POINT_CAP, SYS_FIELDS } from "./constants.js";
import { readTheme } from "./theme.js";

// The app: targets, what the server said in hello, and what the user chose to see.
export var state = {
  targets: new Map(),          // key -> target record
  fields: DEFAULT_FIELDS.slice(),
  interval: 1,
  capacity: 3600,
  cap: POINT_CAP,
  lastSeq: null,
  ticks: 0,
  windowKey: "600",
  zoom: null,                  // [lo, hi] seconds while the user has zoomed
  version: null,
  protocol: null,
  clockSkew: 0,                // server_time - local time
  connected: false,
  mode: "live",                // hello.mode: "live" or "recording"
  recording: null,             // hello.recording: {id, name, started, ended} or null
  modeSeen: false,             // the window default was set for the mode once
  coarse: new Map(),           // key -> {lo, hi, count, gap}: the bucketed (oldest) points of the backfill
  backfills: 0,
};

// What the person picked among many targets: pins (the header's picker, the table, the
// chart's legend: the chart draws pinned targets whatever their rank in their group) and
// the target whose details are open (cards.js).
export var view = {
  pinned: new Set(),           // keys
  open: null,                  // key of the target whose card is shown in table mode
};

// The data store (store.js). Plain arrays: uPlot reads null as "no value".
// pss: key -> PSS column, for the targets that have had a PSS value (groups' honest sums).
// version: bumped by every change; merges: by the changes that may rewrite stored rows
// (mergeSeries: not a live tick's row appended), which caches of old rows' figures follow.
export var store = { times: [], cols: new Map(), pss: new Map(), order: [], version: 0, merges: 0 };

// The RSS chart (chart.js) and the colours it is drawn in (theme.js).
export var ui = {
  chart: null,                 // the uPlot instance
  chartKeys: [],               // series order in the chart (index + 1): target keys, or in
                               // grouped mode the ids of grouping.specs
  grouped: false,              // the chart draws groups (made again when this changes)
  range: null,                 // [lo, hi] of the x scale for the next draw
  theme: readTheme(),
};

// Groups on the chart (groups.js, groupchart.js, grouplegend.js): past a few processes the
// chart draws each group's sum, mean, top members and others instead of every process.
export var grouping = {
  top: 5,                      // members drawn per group (DEFAULT_TOP)
  by: "rss",                   // what ranks them: "rss" (newest) or "growth" (over the view)
  specs: [],                   // the chart's series, in order (index + 1): {id, kind, ...}
  sig: "",                     // the series the chart has now
  groups: [],                  // per group: {label, keys, top, others, measure, count}
  focus: null,                 // the series index under the pointer (uPlot's focus)
  groupBy: null,               // hello.group_by: what the server groups by
};

// Zoom detail (detail.js).
export var detail = {
  parts: new Map(),            // key -> {lo, hi, buckets, t, v, n, bucketed, gap}: answers in use
  partsVersion: 0,
  section: null,               // the parts merged with the stored rows of their span (cached)
  gen: 0,                      // bumped when the view changes: older answers are stale
  inflight: null,              // {gen, left, controllers}
  timer: 0,                    // debounce
  sig: null,                   // the view the requests are for
  failedSig: null,             // a view whose requests failed: not retried in a loop
  answered: 0,                 // answers applied
  shown: 0,                    // answers drawn (body[data-detail-requests])
};

// Alerts (alerts.js, markers.js).
export var alerts = {
  list: [],                    // {id, banner, n, t, msg}, by time then arrival
  seen: new Set(),             // ids of the alerts in list
  latest: new Map(),           // banner id -> the newest entry of that banner
  markers: [],                 // {t, key, kind: leak|cleared|above|below, severity, lo}
  dismissed: new Set(),        // ids of alerts whose banner the user closed
  arrivals: 0,
};

// Marks on the chart (chartmarks.js): "batch 2 starts", from the program or the shell.
export var marks = {
  list: [],                    // {t, key, text, source, id}, by time
  seen: new Set(),             // ids of the marks in list
};

// The Python panel (python/*.js); each target's Python data is on its record (rec.py).
export var py = {
  key: null,                     // the process the panel shows
  heapChart: null,
  gcChart: null,
  chartKey: null,                // the process the charts were made for
  dataSig: "",                   // what the charts show now: redrawn only when it changes
  optionsSig: "",
  topShown: null,                // the top answer the table shows (and the state it was drawn in)
  objectsShown: null,            // the objects answer the table shows (python/objects.js)
  pausesShown: null,
};

// The system strip (system.js): the machine's readings.
export function sysNew() {
  var cols = {};
  SYS_FIELDS.forEach(function (f) { cols[f] = []; });
  return { t: [], cols: cols, gpus: [], latest: null, lastSig: "", version: 0 };
}

export var sys = sysNew();
sys.enabled = false;             // hello.system_fields named some
sys.tiles = new Map();           // tile key -> {root, value, sub, line}
sys.drawn = "";                  // what the sparklines show now

// The socket (socket.js) and what hello changes of it (messages.js).
export var conn = {
  ws: null,
  helloSeen: false,
  everConnected: false,
  backoffAttempt: 0,
  reconnectTimer: 0,
  countdownTimer: 0,
  connectedFallback: 0,
  pingTimer: 0,
  authHint: "",
  authProbed: false,
  protocolNote: "",
};
