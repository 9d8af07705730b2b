// Compare: one metric of several runs, overlaid (each series LTTB-downsampled by the server);
// the curves of running runs grow every 2 s with the points logged since their last step.
"use strict";
(function () {
  var data = window.stepstoneJSON("compare-data");
  var div = document.getElementById("compare-chart");
  if (!data || !div || !data.key || typeof Plotly === "undefined") return;
  var live = null;  // per trace: {run, index, last (step), running}

  function badge(runId, status) {
    document.querySelectorAll("#compare-runs tr[data-run]").forEach(function (row) {
      if (row.getAttribute("data-run") === runId) {
        window.stepstoneSetBadge(row.querySelector("td.status > .badge"), status);
      }
    });
  }

  function first() {
    var params = new URLSearchParams();
    data.runs.forEach(function (id) { params.append("run", id); });
    params.append("key", data.key);
    params.append("points", "2000");
    return window.stepstoneGet("/api/compare/series?" + params.toString()).then(function (body) {
      if (body.error) { div.textContent = body.error.message; return false; }
      var traces = body.series.map(function (s) {
        return { x: s.x, y: s.y, mode: "lines", name: window.stepstonePlain(s.name + " (" + s.run.slice(0, 8) + ")") };
      });
      var layout = window.stepstoneLayout(data.key);
      layout.height = 420;
      Plotly.newPlot(div, traces, layout, { displaylogo: false, responsive: true });
      div.setAttribute("data-drawn", String(traces.length));
      live = body.series.map(function (s, i) {
        return { run: s.run, index: i, last: s.x.length ? s.x[s.x.length - 1] : null,
          running: s.status === "running" };
      });
      return live.some(function (t) { return t.running; });
    });
  }

  function extend(t) {
    var url = "/api/runs/" + encodeURIComponent(t.run) + "/series?key=" +
      encodeURIComponent(data.key) + (t.last === null ? "" : "&since=" + t.last);
    return window.stepstoneGet(url).then(function (body) {
      if (body.error) { t.running = false; return; }
      var s = body.series[data.key];
      if (s && s.x.length) {
        Plotly.extendTraces(div, { x: [s.x], y: [s.y] }, [t.index]);
        t.last = s.x[s.x.length - 1];
      }
      t.running = body.status === "running";
      badge(t.run, body.status);
    });
  }

  function step() {
    if (live === null) return first();
    var open = live.filter(function (t) { return t.running; });
    return Promise.all(open.map(extend)).then(function () {
      return live.some(function (t) { return t.running; });
    });
  }

  window.stepstonePoll(step, 2000, true);
})();
