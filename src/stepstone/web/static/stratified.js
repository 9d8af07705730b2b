// Stratified: per-bucket mean with its interval (bars), the worst case (diamonds); the weakest
// bucket red, thin buckets faded; with a second run, both side by side per bucket.
"use strict";
(function () {
  var plain = window.stepstonePlain;
  var data = window.stepstoneJSON("stratified-data");
  var div = document.getElementById("stratified-chart");
  if (!data || !div || !data.runs.length || typeof Plotly === "undefined") return;
  var labels = [];
  data.runs.forEach(function (r) {
    r.buckets.forEach(function (b) { if (labels.indexOf(b.bucket) < 0) labels.push(b.bucket); });
  });
  var n = data.runs.length;
  var width = 0.8 / n;
  var colors = ["#2c7be5", "#e67e22"];
  var traces = [];
  data.runs.forEach(function (r, k) {
    var offset = -0.4 + width * (k + 0.5);
    var at = function (b) { return labels.indexOf(b.bucket) + offset; };
    var name = plain(r.name + " (" + r.id.slice(0, 8) + ")");
    traces.push({ type: "bar", name: name, width: width * 0.9,
      x: r.buckets.map(at), y: r.buckets.map(function (b) { return b.mean; }),
      marker: { color: colors[k % 2],
        line: { color: r.buckets.map(function (b) { return b.weakest ? "#c0392b" : colors[k % 2]; }),
          width: r.buckets.map(function (b) { return b.weakest ? 3 : 0; }) },
        opacity: r.buckets.map(function (b) { return b.thin ? 0.4 : 0.9; }),
        pattern: { shape: r.buckets.map(function (b) { return b.thin ? "/" : ""; }) } },
      error_y: { type: "data", symmetric: false, color: "#374151",
        array: r.buckets.map(function (b) { return b.high === null ? 0 : b.high - b.mean; }),
        arrayminus: r.buckets.map(function (b) { return b.low === null ? 0 : b.mean - b.low; }) },
      hovertext: r.buckets.map(function (b) {
        return name + "<br>" + plain(data.by) + " = " + plain(b.bucket) + "<br>mean " + b.mean.toPrecision(4) +
          (b.low === null ? "" : " [" + b.low.toPrecision(4) + ", " + b.high.toPrecision(4) + "]") +
          "<br>n = " + b.count + (b.thin ? " (thin)" : "") + (b.weakest ? "<br>weakest bucket" : "");
      }), hoverinfo: "text" });
    var worst = r.buckets.filter(function (b) { return b.worst !== null; });
    if (worst.length) {
      traces.push({ type: "scatter", mode: "markers", name: "worst 5% · " + plain(r.name),
        x: worst.map(at), y: worst.map(function (b) { return b.worst; }),
        marker: { symbol: "diamond", size: 10, color: "#111827", line: { color: "#fff", width: 1 } },
        hovertext: worst.map(function (b) {
          return name + "<br>" + plain(data.by) + " = " + plain(b.bucket) + "<br>worst case " + b.worst.toPrecision(4);
        }), hoverinfo: "text" });
    }
  });
  var layout = window.stepstoneLayout(data.metric + " by " + data.by);
  layout.legend = { orientation: "h", x: 0, y: -0.2, yanchor: "top" };
  layout.margin = { l: 60, r: 20, t: 30, b: 100 };
  layout.height = 420;
  layout.barmode = "overlay";
  layout.xaxis = { title: { text: plain(data.by) }, tickvals: labels.map(function (_, i) { return i; }),
    ticktext: labels.map(plain), range: [-0.6, labels.length - 0.4] };
  layout.yaxis = { title: { text: data.metric } };
  Plotly.newPlot(div, traces, layout, { displaylogo: false, responsive: true });
  div.setAttribute("data-drawn", String(n));
})();
