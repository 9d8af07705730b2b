// One run: draw each series, and while the run is running poll for new points every 2 s
// (a failed fetch is retried with a backoff: see stepstonePoll in app.js).
"use strict";
(function () {
  var data = window.stepstoneJSON("run-data");
  var box = document.getElementById("charts");
  var systemBox = document.getElementById("system-charts");
  if (data && systemBox && typeof Plotly !== "undefined") {
    // system metrics: drawn once, against minutes since the run started
    Object.keys(data.system || {}).forEach(function (key) {
      var div = document.createElement("div");
      div.className = "chart";
      div.setAttribute("data-key", key);
      systemBox.appendChild(div);
      var layout = window.stepstoneLayout(key);
      layout.xaxis.title.text = "minutes";
      Plotly.newPlot(div, [{ x: data.system[key].x, y: data.system[key].y, mode: "lines",
        name: window.stepstonePlain(key) }], layout, { displaylogo: false, responsive: true });
    });
  }
  if (!data || !box || typeof Plotly === "undefined") return;
  var base = "/api/runs/" + encodeURIComponent(data.run) + "/series";
  var lastStep = null;
  var loaded = false;
  var divs = {};

  function chart(key) {
    if (!divs[key]) {
      var div = document.createElement("div");
      div.className = "chart";
      div.setAttribute("data-key", key);
      box.appendChild(div);
      divs[key] = div;
      Plotly.newPlot(div, [{ x: [], y: [], mode: "lines", name: window.stepstonePlain(key) }],
        window.stepstoneLayout(key), { displaylogo: false, responsive: true });
    }
    return divs[key];
  }

  function draw(series, append) {
    Object.keys(series).forEach(function (key) {
      var s = series[key];
      var div = chart(key);
      if (append) {
        if (s.x.length) Plotly.extendTraces(div, { x: [s.x], y: [s.y] }, [0]);
        if (s.x.length && div.data[0].x.length > 1 && div.data[0].mode === "markers") {
          Plotly.restyle(div, { mode: "lines" }, [0]);
        }
      } else {
        // one point (an evaluation logged once) draws nothing as a line: a marker
        Plotly.react(div, [{ x: s.x, y: s.y, mode: s.x.length < 2 ? "markers" : "lines",
          marker: { size: 8 }, name: window.stepstonePlain(key) }],
          window.stepstoneLayout(key), { displaylogo: false, responsive: true });
      }
      div.setAttribute("data-points", String(div.data[0].x.length));
    });
  }

  // the first call draws every series; later ones append the points after the last step
  function step() {
    var url = base + (loaded && lastStep !== null ? "?since=" + lastStep : "");
    return window.stepstoneGet(url).then(function (body) {
      if (body.error) return false;
      if (!loaded) data.keys.forEach(chart);
      draw(body.series, loaded);
      loaded = true;
      if (body.last_step !== null) {
        lastStep = body.last_step;
        var cell = document.getElementById("last-step");
        if (cell) cell.textContent = String(lastStep);
      }
      window.stepstoneSetBadge(document.getElementById("run-status"), body.status);
      return body.status === "running";
    });
  }

  window.stepstonePoll(step, 2000, true);
})();
