// Baselines: the reference metric over the versions of each tier; regressions in red.
"use strict";
(function () {
  if (typeof Plotly === "undefined") return;
  document.querySelectorAll(".lineage-chart").forEach(function (div) {
    var points = JSON.parse(div.getAttribute("data-points"));
    var metric = div.getAttribute("data-metric");
    var x = points.map(function (p) { return p.version; });
    var y = points.map(function (p) { return p.value; });
    var colors = points.map(function (p) { return p.regressed ? "#c0392b" : "#2c7be5"; });
    var sizes = points.map(function (p) { return p.regressed ? 14 : 8; });
    var layout = window.stepstoneLayout(metric);
    layout.xaxis = { type: "category" };
    Plotly.newPlot(div, [{ x: x, y: y, mode: "lines+markers", name: metric,
      marker: { color: colors, size: sizes } }], layout, { displaylogo: false });
  });
})();
