// The Python panel's elements, looked up once.

export var pyPanel = document.getElementById("python-panel");
function pyQ(role) { return pyPanel.querySelector('[data-role="' + role + '"]'); }
export var pyEl = {
  target: pyQ("py-target"), info: pyQ("py-info"),
  selectWrap: pyQ("target-select-wrap"), select: pyQ("target-select"),
  tools: pyQ("trace-tools"), frames: pyQ("frames"), toggle: pyQ("trace-toggle"), error: pyQ("trace-error"),
  gap: pyQ("heap-gap"), gapValue: pyQ("heap-gap-value"), figures: pyQ("heap-figures"), note: pyQ("trace-note"),
  heapChart: document.getElementById("python-heap-chart"), gcChart: document.getElementById("python-gc-chart"),
  collections: pyQ("gc-collections"), uncollectable: pyQ("gc-uncollectable"), blocks: pyQ("py-blocks"),
  pauses: pyQ("gc-pauses"), pausesSummary: pyQ("gc-pauses-summary"), pauseList: pyQ("gc-pause-list"),
  topSub: pyQ("top-sub"), growthHead: pyQ("growth-head"), topEmpty: pyQ("top-empty"),
  topTable: document.getElementById("python-top"),
  hp: pyQ("hp"), hpInfo: pyQ("hp-info"), hpTools: pyQ("hp-tools"), hpToggle: pyQ("hp-toggle"),
  hpView: pyQ("hp-view"), hpMark: pyQ("hp-mark"), hpState: pyQ("hp-state"), hpError: pyQ("hp-error"),
  hpNote: pyQ("hp-note"), hpFlame: document.getElementById("python-flame"),
  topBody: document.querySelector("#python-top tbody"),
  objects: pyQ("objects"), objSub: pyQ("obj-sub"), objCount: pyQ("obj-count"), objEmpty: pyQ("obj-empty"),
  objGrowthHead: pyQ("obj-growth-head"), objBody: document.querySelector("#python-objects tbody"),
};
