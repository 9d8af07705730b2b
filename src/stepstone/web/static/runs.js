// Runs table: while some rows show a running run, refresh their status badge, last step and
// duration every 3 s from /api/status (no reload); stop when none of them is running.
"use strict";
(function () {
  function running() {
    return Array.prototype.slice.call(
      document.querySelectorAll("table.runs tr[data-run][data-status=running]"));
  }
  if (!running().length) return;

  function update(row, info) {
    row.setAttribute("data-status", info.status);
    row.className = "status-" + info.status;
    var cell = row.querySelector("td.status");
    window.stepstoneSetBadge(cell.querySelector(".badge"), info.status);
    row.querySelector("td.step").textContent = info.last_step === null ? "" : String(info.last_step);
    row.querySelector("td.duration").textContent = info.duration_text;
  }

  function step() {
    var rows = running();
    if (!rows.length) return false;
    var byId = {};
    var params = new URLSearchParams();
    rows.forEach(function (row) {
      byId[row.getAttribute("data-run")] = row;
      params.append("run", row.getAttribute("data-run"));
    });
    return window.stepstoneGet("/api/status?" + params.toString()).then(function (body) {
      if (body.error) return false;
      body.runs.forEach(function (info) { if (byId[info.id]) update(byId[info.id], info); });
      return running().length > 0;
    });
  }

  window.stepstonePoll(step, 3000, false);
})();
