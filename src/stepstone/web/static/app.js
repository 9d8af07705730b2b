// stepstone dashboard: the few lines of hand-written JS shared by every page.
"use strict";
(function () {
  var form = document.getElementById("compare-form");
  if (!form) return;
  var button = document.getElementById("compare-button");
  function update() {
    var n = form.querySelectorAll("input[name=run]:checked").length;
    button.disabled = n < 1;
    button.textContent = n ? "Compare " + n + " selected" : "Compare selected";
  }
  form.addEventListener("change", update);
  update();
})();

window.stepstoneJSON = function (id) {
  var node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
};

// Text a person wrote, for plotly: its names, titles, ticks and hovers render a subset of HTML
// (<a href> becomes a live link), so < > & are written as entities (plotly shows them as is).
window.stepstonePlain = function (text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
};

// An exponential moving average of ys with weight w (0: ys as they are), debiased as
// TensorBoard's: the first points are not pulled towards zero.
window.stepstoneSmooth = function (ys, w) {
  if (!w) return ys;
  var out = [], last = 0, n = 0;
  ys.forEach(function (y) {
    last = last * w + (1 - w) * y;
    n += 1;
    out.push(last / (1 - Math.pow(w, n)));
  });
  return out;
};

window.stepstoneLayout = function (title) {
  return {
    title: { text: window.stepstonePlain(title), font: { size: 13 } },
    margin: { l: 50, r: 10, t: 30, b: 35 },
    xaxis: { title: { text: "step" } },
    legend: { orientation: "h" },
    height: 260,
  };
};

// The CSS class of a status badge: the server's one table (common.BADGE), from base.html.
window.stepstoneBadgeClass = function (status) {
  var classes = window.stepstoneJSON("badge-classes") || {};
  return classes[status] || "muted";
};

window.stepstoneSetBadge = function (span, status) {
  if (!span || span.textContent === status) return;
  span.textContent = status;
  span.className = "badge " + window.stepstoneBadgeClass(status);
};

// GET a JSON endpoint. A dropped connection or a server error (5xx) rejects, so the poll
// below tries again; a 4xx resolves with its {"error": ...} body, and the caller stops.
window.stepstoneGet = function (url) {
  return fetch(url, { credentials: "same-origin" }).then(function (r) {
    if (r.status >= 500) throw new Error(url + ": HTTP " + r.status);
    return r.json();
  });
};

// Run step() (at once when `now`, else after `every` ms), then again every `every` ms for as
// long as it resolves true. When it fails, try again after a wait that doubles each time
// (up to 30 s) and is back to `every` after a success: one failed fetch never ends updates.
window.stepstonePoll = function (step, every, now) {
  var wait = every;
  function tick() {
    var done;
    try { done = Promise.resolve(step()); } catch (err) { done = Promise.reject(err); }
    done.then(function (more) {
      wait = every;
      if (more) setTimeout(tick, every);
    }).catch(function () {
      wait = Math.min(wait * 2, 30000);
      setTimeout(tick, wait);
    });
  }
  setTimeout(tick, now ? 0 : every);
};
