// Compare: one metric of several runs, overlaid (each series LTTB-downsampled by the server).
"use strict";
(function () {
  var data = window.stepstoneJSON("compare-data");
  var div = document.getElementById("compare-chart");
  if (!data || !div || !data.key || typeof Plotly === "undefined") return;
  var params = new URLSearchParams();
  data.runs.forEach(function (id) { params.append("run", id); });
  params.append("key", data.key);
  params.append("points", "2000");
  fetch("/api/compare/series?" + params.toString(), { credentials: "same-origin" })
    .then(function (r) { return r.json(); })
    .then(function (body) {
      if (body.error) { div.textContent = body.error.message; return; }
      var traces = body.series.map(function (s) {
        return { x: s.x, y: s.y, mode: "lines", name: s.name + " (" + s.run.slice(0, 8) + ")" };
      });
      var layout = window.stepstoneLayout(data.key);
      layout.height = 420;
      Plotly.newPlot(div, traces, layout, { displaylogo: false, responsive: true });
      div.setAttribute("data-drawn", String(traces.length));
    });
})();
