// One run: draw each series, and while the run is running poll for new points every 2 s.
"use strict";
(function () {
  var data = window.stepstoneJSON("run-data");
  var box = document.getElementById("charts");
  if (!data || !box || typeof Plotly === "undefined") return;
  var base = "/api/runs/" + encodeURIComponent(data.run) + "/series";
  var lastStep = data.last_step;
  var divs = {};

  function chart(key) {
    if (!divs[key]) {
      var div = document.createElement("div");
      div.className = "chart";
      div.setAttribute("data-key", key);
      box.appendChild(div);
      divs[key] = div;
      Plotly.newPlot(div, [{ x: [], y: [], mode: "lines", name: key }],
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
      } else {
        Plotly.react(div, [{ x: s.x, y: s.y, mode: "lines", name: key }],
          window.stepstoneLayout(key), { displaylogo: false, responsive: true });
      }
    });
  }

  function poll() {
    var url = base + (lastStep === null || lastStep === undefined ? "" : "?since=" + lastStep);
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.error) return;
        draw(body.series, true);
        if (body.last_step !== null) {
          lastStep = body.last_step;
          var cell = document.getElementById("last-step");
          if (cell) cell.textContent = String(lastStep);
        }
        var badge = document.getElementById("run-status");
        if (badge && badge.textContent !== body.status) badge.textContent = body.status;
        if (body.status === "running") setTimeout(poll, 2000);
      });
  }

  fetch(base, { credentials: "same-origin" }).then(function (r) { return r.json(); })
    .then(function (body) {
      if (body.error) return;
      data.keys.forEach(chart);
      draw(body.series, false);
      lastStep = body.last_step;
      if (body.status === "running") setTimeout(poll, 2000);
    });
})();
