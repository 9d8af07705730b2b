// Compare: one metric of several runs, overlaid (each series downsampled by the server to a
// min/max envelope, so spikes stay); runs grouped by config (by default those that differ only
// in seed) drawn as their mean with the min–max band; smoothing with the raw curve faint behind;
// log axes. The curves of running runs grow every 2 s with the points logged since their last step.
"use strict";
(function () {
  var data = window.stepstoneJSON("compare-data");
  var div = document.getElementById("compare-chart");
  if (!data || !div || !data.key || typeof Plotly === "undefined") return;
  var live = null;  // per run: {run, last (step), running}
  var body = null;  // the last answer of /api/compare/series, extended by the polls
  var colors = ["#2c7be5", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d",
    "#d35400", "#2980b9", "#f39c12"];
  var smoothing = document.getElementById("smoothing");
  var logX = document.getElementById("log-x");
  var logY = document.getElementById("log-y");

  function badge(runId, status) {
    document.querySelectorAll("#compare-runs td.status[data-run]").forEach(function (cell) {
      if (cell.getAttribute("data-run") === runId) {
        window.stepstoneSetBadge(cell.querySelector(".badge"), status);
      }
    });
  }

  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function weight() { return smoothing ? Number(smoothing.value) : 0; }

  var smooth = window.stepstoneSmooth;

  // a series with one point (an evaluation logged once) draws nothing as a line: markers
  function mode(n) { return n < 2 ? "markers" : "lines"; }

  function traces() {
    var w = weight();
    var out = [];
    var grouped = {};
    body.groups.forEach(function (g) { g.runs.forEach(function (id) { grouped[id] = true; }); });
    body.groups.forEach(function (g, i) {
      var color = colors[i % colors.length];
      var label = window.stepstonePlain(g.label + " (" + g.runs.length + " runs)");
      out.push({ x: g.x, y: g.low, mode: "lines", line: { width: 0, color: color },
        hoverinfo: "skip", showlegend: false, legendgroup: "g" + i, meta: "band-low" });
      out.push({ x: g.x, y: g.high, mode: "lines", line: { width: 0, color: color },
        fill: "tonexty", fillcolor: rgba(color, 0.2), hoverinfo: "skip", showlegend: false,
        legendgroup: "g" + i, meta: "band-high" });
      if (w) {
        out.push({ x: g.x, y: g.mean, mode: mode(g.x.length), opacity: 0.3, showlegend: false,
          line: { color: color, width: 1 }, hoverinfo: "skip", legendgroup: "g" + i,
          meta: "raw" });
      }
      out.push({ x: g.x, y: smooth(g.mean, w), mode: mode(g.x.length), name: label,
        line: { color: color, width: 2 }, marker: { color: color, size: 8 },
        legendgroup: "g" + i, meta: "mean" });
    });
    var k = body.groups.length;
    body.series.forEach(function (s) {
      if (grouped[s.run]) return;
      var color = colors[k % colors.length];
      k += 1;
      var name = window.stepstonePlain(s.name + " (" + s.run.slice(0, 8) + ")");
      if (w) {
        out.push({ x: s.x, y: s.y, mode: mode(s.x.length), opacity: 0.3, showlegend: false,
          line: { color: color, width: 1 }, hoverinfo: "skip", meta: "raw" });
      }
      out.push({ x: s.x, y: smooth(s.y, w), mode: mode(s.x.length), name: name,
        line: { color: color }, marker: { color: color, size: 8 }, meta: "run" });
    });
    return out;
  }

  function draw() {
    var layout = window.stepstoneLayout(data.key);
    layout.height = 420;
    layout.xaxis.type = logX && logX.checked ? "log" : "linear";
    layout.yaxis = { type: logY && logY.checked ? "log" : "linear" };
    var drawn = traces();
    Plotly.react(div, drawn, layout, { displaylogo: false, responsive: true });
    div.setAttribute("data-drawn", String(body.series.length));
    div.setAttribute("data-groups", String(body.groups.length));
    div.setAttribute("data-smoothing", String(weight()));
  }

  function first() {
    var params = new URLSearchParams();
    data.runs.forEach(function (id) { params.append("run", id); });
    params.append("key", data.key);
    params.append("points", "2000");
    params.append("group", data.group || "seed");
    return window.stepstoneGet("/api/compare/series?" + params.toString()).then(function (got) {
      if (got.error) { div.textContent = got.error.message; return false; }
      body = got;
      draw();
      live = body.series.map(function (s) {
        return { run: s.run, last: s.x.length ? s.x[s.x.length - 1] : null,
          running: s.status === "running" };
      });
      return live.some(function (t) { return t.running; });
    });
  }

  function extend(t) {
    var url = "/api/runs/" + encodeURIComponent(t.run) + "/series?key=" +
      encodeURIComponent(data.key) + (t.last === null ? "" : "&since=" + t.last);
    return window.stepstoneGet(url).then(function (got) {
      if (got.error) { t.running = false; return; }
      var s = got.series[data.key];
      if (s && s.x.length) {
        body.series.forEach(function (mine) {
          if (mine.run !== t.run) return;
          mine.x = mine.x.concat(s.x);
          mine.y = mine.y.concat(s.y);
        });
        t.last = s.x[s.x.length - 1];
      }
      t.running = got.status === "running";
      badge(t.run, got.status);
    });
  }

  function step() {
    if (live === null) return first();
    var open = live.filter(function (t) { return t.running; });
    return Promise.all(open.map(extend)).then(function () {
      if (open.length) draw();
      return live.some(function (t) { return t.running; });
    });
  }

  [smoothing, logX, logY].forEach(function (control) {
    if (!control) return;
    control.addEventListener("input", function () {
      var shown = document.getElementById("smoothing-value");
      if (shown && smoothing) shown.textContent = smoothing.value;
      if (body) draw();
    });
  });
  window.stepstonePoll(step, 2000, true);
})();
