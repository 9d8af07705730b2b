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

window.stepstoneLayout = function (title) {
  return {
    title: { text: title, font: { size: 13 } },
    margin: { l: 50, r: 10, t: 30, b: 35 },
    xaxis: { title: { text: "step" } },
    legend: { orientation: "h" },
    height: 260,
  };
};
