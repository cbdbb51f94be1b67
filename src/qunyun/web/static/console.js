// Draws every [data-chart] element with ECharts (after load and after each HTMX swap).
(function () {
  "use strict";
  function drawCharts(root) {
    if (typeof window.echarts === "undefined") {
      return;
    }
    root.querySelectorAll("[data-chart]").forEach(function (element) {
      if (element.dataset.drawn) {
        return;
      }
      var chart = window.echarts.init(element);
      chart.setOption(JSON.parse(element.dataset.chart));
      element.dataset.drawn = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    document.body.addEventListener("htmx:afterSwap", function (event) {
      drawCharts(event.target);
    });
  });
})();
