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
  var raw = {};  // key -> {x, y}: every point drawn so far, before smoothing
  var smoothing = document.getElementById("smoothing");
  var logX = document.getElementById("log-x");
  var logY = document.getElementById("log-y");

  function chart(key) {
    if (!divs[key]) {
      var div = document.createElement("div");
      div.className = "chart";
      div.setAttribute("data-key", key);
      box.appendChild(div);
      divs[key] = div;
      raw[key] = { x: [], y: [] };
      render(key);
    }
    return divs[key];
  }

  // data[0] is the series as logged; with smoothing it is faint and the smoothed one is on top.
  // One point (an evaluation logged once) draws nothing as a line: a marker.
  function render(key) {
    var s = raw[key];
    var w = smoothing ? Number(smoothing.value) : 0;
    var mode = s.x.length < 2 ? "markers" : "lines";
    var traces = [{ x: s.x, y: s.y, mode: mode, marker: { size: 8 }, line: { color: "#2c7be5" },
      name: window.stepstonePlain(key), opacity: w ? 0.3 : 1, showlegend: false }];
    if (w) {
      traces.push({ x: s.x, y: window.stepstoneSmooth(s.y, w), mode: mode,
        line: { color: "#2c7be5" }, name: window.stepstonePlain(key + " (smoothed)"),
        showlegend: false });
    }
    var layout = window.stepstoneLayout(key);
    layout.xaxis.type = logX && logX.checked ? "log" : "linear";
    layout.yaxis = { type: logY && logY.checked ? "log" : "linear" };
    Plotly.react(divs[key], traces, layout, { displaylogo: false, responsive: true });
    divs[key].setAttribute("data-points", String(s.x.length));
    divs[key].setAttribute("data-smoothing", String(w));
  }

  function draw(series, append) {
    Object.keys(series).forEach(function (key) {
      var s = series[key];
      chart(key);
      if (append) {
        var have = raw[key].x;
        var last = have.length ? have[have.length - 1] : null;
        var from = 0;
        while (last !== null && from < s.x.length && s.x[from] <= last) from++;
        if (from === s.x.length) return;
        raw[key] = { x: have.concat(s.x.slice(from)), y: raw[key].y.concat(s.y.slice(from)) };
      } else {
        raw[key] = { x: s.x, y: s.y };
      }
      render(key);
    });
  }

  [smoothing, logX, logY].forEach(function (control) {
    if (!control) return;
    control.addEventListener("input", function () {
      var shown = document.getElementById("smoothing-value");
      if (shown && smoothing) shown.textContent = smoothing.value;
      Object.keys(divs).forEach(render);
    });
  });

  // the first call draws every series; later ones ask from the last step on (an evaluation
  // may land after the training point of its step) and append what each chart lacks
  function step() {
    var url = base + (loaded && lastStep !== null ? "?since=" + (lastStep - 1) : "");
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
