// Fixed numbers of the dashboard, shared by its modules.

export var PROTOCOL = 1;
export var DEFAULT_FIELDS = ["rss", "vms", "shared", "swap", "threads", "fds", "cpu", "uss", "pss",
  "py_heap", "py_heap_peak", "py_blocks", "gc_collections", "gc_uncollectable"];
export var POINT_CAP = 200000;          // stored points per target, at least
export var POINT_CAP_MAX = 1000000;     // never more, whatever history_capacity says
export var TRIM_SLACK = 2000;           // trim in batches, not on every tick
export var EPS = 1e-3;                  // two sample times closer than this are the same time
export var BACKOFF_MIN = 500, BACKOFF_MAX = 10000;
export var DETAIL_DEBOUNCE = 150;       // ms between a change of the visible range and /api/range
export var DETAIL_PAD = 0.02;           // detail is fetched a little wider than the view, each side
export var WINDOWS = { "60": 60, "600": 600, "3600": 3600, "all": Infinity };
export var FONT_STACK = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif';

export var PY_COLS = ["rss", "py_heap", "py_heap_peak", "py_blocks", "gc_collections", "gc_uncollectable"];
export var PY_FIELDS = PY_COLS.slice(1);
export var PY_SYNC = "memlens-time";    // cursor sync between the RSS chart and the panel's charts
export var PY_PAUSES_SHOWN = 6;         // latest gc pauses listed
export var PY_PATH_MAX = 44;            // longer file paths are shortened (the full one in a title)
export var SYS_FIELDS = ["cpu_percent", "mem_total", "mem_used", "mem_available", "mem_percent",
  "swap_total", "swap_used", "disk_read_bps", "disk_write_bps", "net_rx_bps", "net_tx_bps"];
export var GROUPED_AT = 8;             // past this many processes the chart draws groups (groups.js)
export var TOP_CHOICES = [3, 5, 10];    // members drawn per group; 5 is analysis/groups.DEFAULT_TOP
export var DEFAULT_TOP = 5;
export var OTHERS_LISTED = 200;         // a group's others listed (to pin one) when the list opens
