// Scaling: the baseline law with its band, the baseline's and the question's runs (loss vs
// compute, log x), and the gain per rung with its interval and the trend line.
"use strict";
(function () {
  var data = window.stepstoneJSON("scaling-data");
  if (!data || typeof Plotly === "undefined") return;
  var config = { displaylogo: false, responsive: true };
  var plain = window.stepstonePlain;

  function hover(p, extra) {
    return plain((p.name || p.run.slice(0, 8)) + (extra || "")) + "<br>C=" + p.compute.toPrecision(3) +
      "<br>" + plain(data.metric) + "=" + p.loss.toPrecision(4);
  }

  var lawDiv = document.getElementById("scaling-chart");
  if (lawDiv) {
    var traces = [];
    if (data.fit) {
      var curve = data.fit.curve;
      if (curve.low && curve.high) {
        traces.push({ x: curve.compute, y: curve.low, mode: "lines", line: { width: 0 },
          hoverinfo: "skip", showlegend: false });
        traces.push({ x: curve.compute, y: curve.high, mode: "lines", line: { width: 0 },
          fill: "tonexty", fillcolor: "rgba(44,123,229,0.18)", hoverinfo: "skip",
          name: Math.round(data.fit.confidence * 100) + "% band" });
      }
      traces.push({ x: curve.compute, y: curve.loss, mode: "lines", name: "baseline law",
        line: { color: "#2c7be5", width: 2 }, hoverinfo: "skip" });
    }
    // the question's rungs first, as open diamonds, and the baseline's runs over them: a
    // baseline point at the same place stays visible inside the diamond
    var feat = data.feature_points;
    if (feat.length) {
      traces.push({ x: feat.map(function (p) { return p.compute; }),
        y: feat.map(function (p) { return p.loss; }), mode: "markers+text",
        name: plain(data.question ? data.question.id + " runs" : "question runs"),
        marker: { color: "#e67e22", size: 14, symbol: "diamond-open", line: { width: 2 } },
        text: feat.map(function (p) { return plain(p.rung); }), textposition: "top center",
        hovertext: feat.map(function (p) { return hover(p, " · rung " + p.rung); }),
        hoverinfo: "text" });
    }
    var base = data.baseline_points;
    traces.push({ x: base.map(function (p) { return p.compute; }),
      y: base.map(function (p) { return p.loss; }), mode: "markers",
      name: plain("baseline runs (" + data.version + ")"),
      marker: { color: "#1d2330", size: 8 },
      text: base.map(function (p) { return hover(p); }), hoverinfo: "text" });
    var layout = window.stepstoneLayout(data.metric + " against compute");
    layout.legend = { orientation: "h", x: 0, y: -0.2, yanchor: "top" };
    layout.margin = { l: 60, r: 20, t: 30, b: 100 };
    layout.height = 420;
    layout.xaxis = { type: "log", title: { text: "compute (FLOPs)" } };
    layout.yaxis = { title: { text: plain(data.metric) } };
    Plotly.newPlot(lawDiv, traces, layout, config);
    lawDiv.setAttribute("data-drawn", String(traces.length));
  }

  var gainDiv = document.getElementById("gain-chart");
  if (gainDiv && data.gain) {
    var rungs = data.gain.rungs.filter(function (r) { return r.defined; });
    var undefinedRungs = data.gain.rungs.filter(function (r) { return !r.defined; });
    var highs = rungs.map(function (r) { return r.high; });
    var top = Math.max.apply(null, rungs.map(function (r) {
      return r.high === null ? r.gain : r.high; }).concat([1.0]));
    var gtraces = [{
      x: rungs.map(function (r) { return r.compute; }),
      y: rungs.map(function (r) { return r.gain; }),
      mode: "markers+text", name: "gain per rung",
      text: rungs.map(function (r) { return plain(r.label); }), textposition: "middle right",
      marker: { size: 10, color: "#e67e22",
        symbol: highs.map(function (h) { return h === null ? "triangle-up" : "circle"; }) },
      error_y: { type: "data", symmetric: false, color: "#e67e22", thickness: 1.5, width: 6,
        array: rungs.map(function (r) {
          return r.high === null ? top * 1.2 - r.gain : r.high - r.gain; }),
        arrayminus: rungs.map(function (r) { return r.low === null ? 0 : r.gain - r.low; }) },
      hovertext: rungs.map(function (r) {
        return plain("rung " + r.label + " (" + (r.name || r.run.slice(0, 8)) + ")") + "<br>gain " +
          r.gain.toFixed(3) + " [" + (r.low === null ? "—" : r.low.toFixed(3)) + ", " +
          (r.high === null ? "unbounded" : r.high.toFixed(3)) + "]" +
          (r.note ? "<br>" + plain(r.note) : ""); }),
      hoverinfo: "text" }];
    var line = data.gain.trend.line;
    if (line) {
      gtraces.push({ x: line.compute, y: line.gain, mode: "lines",
        name: "trend: " + data.gain.trend.verdict,
        line: { dash: "dot", color: "#6b7280" }, hoverinfo: "skip" });
    }
    var glayout = window.stepstoneLayout("gain over the baseline law" +
      (undefinedRungs.length ? " (" + undefinedRungs.length + " rung(s) undefined: see table)" : ""));
    glayout.legend = { orientation: "h", x: 0, y: -0.2, yanchor: "top" };
    glayout.margin = { l: 60, r: 20, t: 30, b: 100 };
    glayout.height = 380;
    glayout.xaxis = { type: "log", title: { text: "compute (FLOPs)" } };
    glayout.yaxis = { title: { text: "gain (×)" }, rangemode: "tozero" };
    glayout.shapes = [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 1, y1: 1,
      line: { color: "#9ca3af", dash: "dash", width: 1 } }];
    Plotly.newPlot(gainDiv, gtraces, glayout, config);
    gainDiv.setAttribute("data-drawn", String(rungs.length));
  }
})();
