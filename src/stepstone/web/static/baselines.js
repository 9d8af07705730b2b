// Baselines: the reference metric over the versions of each tier; a regressed version is a
// large red cross labelled "regressed" (the check is stepstone.method.baselines.regression).
"use strict";
(function () {
  if (typeof Plotly === "undefined") return;
  document.querySelectorAll(".lineage-chart").forEach(function (div) {
    var points = JSON.parse(div.getAttribute("data-points"));
    var metric = div.getAttribute("data-metric");
    var x = points.map(function (p) { return window.stepstonePlain(p.version); });
    var y = points.map(function (p) { return p.value; });
    var layout = window.stepstoneLayout(metric);
    layout.xaxis = { type: "category" };
    layout.annotations = points.filter(function (p) { return p.regressed && p.value !== null; })
      .map(function (p) {
        return { x: window.stepstonePlain(p.version), y: p.value, text: "regressed", showarrow: true, arrowhead: 2,
          ay: -30, font: { color: "#c0392b" } };
      });
    Plotly.newPlot(div, [{ x: x, y: y, mode: "lines+markers", name: window.stepstonePlain(metric),
      marker: { color: points.map(function (p) { return p.regressed ? "#c0392b" : "#2c7be5"; }),
        size: points.map(function (p) { return p.regressed ? 14 : 8; }),
        symbol: points.map(function (p) { return p.regressed ? "x" : "circle"; }) } }],
      layout, { displaylogo: false });
    div.setAttribute("data-drawn", String(points.length));
  });
})();
