// Pareto: quality against the first cost; the frontier highlighted and connected, the runs
// that break a hard constraint greyed (the reason in the hover).
"use strict";
(function () {
  var data = window.stepstoneJSON("pareto-data");
  var div = document.getElementById("pareto-chart");
  if (!data || !div || typeof Plotly === "undefined") return;
  var plain = window.stepstonePlain;
  var cost = data.cost[0];
  function label(p) { return plain((p.name || p.run.slice(0, 8)) + " (" + p.run.slice(0, 8) + ")"); }
  function hover(p) {
    return label(p) + "<br>" + plain(data.quality) + " = " + p.quality + "<br>" + plain(cost) + " = " + p.cost;
  }
  var front = data.points.filter(function (p) { return p.on_front; })
    .sort(function (a, b) { return a.cost - b.cost; });
  var rest = data.points.filter(function (p) { return !p.on_front; });
  var out = data.disqualified.filter(function (d) { return d.quality !== null && d.cost !== null; });
  var traces = [
    { x: rest.map(function (p) { return p.cost; }), y: rest.map(function (p) { return p.quality; }),
      mode: "markers", name: "dominated", marker: { color: "#93c5fd", size: 9 },
      hovertext: rest.map(function (p) {
        return hover(p) + "<br>rank " + p.rank + (p.dominated_by ?
          "<br>dominated by " + p.dominated_by.slice(0, 8) : ""); }), hoverinfo: "text" },
    { x: front.map(function (p) { return p.cost; }), y: front.map(function (p) { return p.quality; }),
      mode: "lines+markers", name: "frontier", line: { color: "#1e8e3e", width: 2, shape: "hv" },
      marker: { color: "#1e8e3e", size: 12, line: { color: "#fff", width: 1 } },
      hovertext: front.map(function (p) { return hover(p) + "<br>rank " + p.rank + " · on the frontier"; }),
      hoverinfo: "text" },
  ];
  if (out.length) {
    traces.push({ x: out.map(function (d) { return d.cost; }), y: out.map(function (d) { return d.quality; }),
      mode: "markers", name: "disqualified", marker: { color: "#9ca3af", size: 9, symbol: "x" },
      hovertext: out.map(function (d) { return hover(d) + "<br>disqualified: " + plain(d.reasons.join("; ")); }),
      hoverinfo: "text" });
  }
  var layout = window.stepstoneLayout(data.quality + " against " + cost);
  layout.legend = { orientation: "h", x: 0, y: -0.2, yanchor: "top" };
  layout.margin = { l: 60, r: 20, t: 30, b: 100 };
  layout.height = 460;
  layout.xaxis = { title: { text: plain(cost) + " (lower is better)" } };
  layout.yaxis = { title: { text: plain(data.quality) + (data.maximize ? " (higher is better)" : " (lower is better)") } };
  Plotly.newPlot(div, traces, layout, { displaylogo: false, responsive: true });
  div.setAttribute("data-drawn", String(data.points.length + out.length));
})();
