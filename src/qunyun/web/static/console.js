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
  // A button with data-print prints the page (pick lists, delivery batches).
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("button[data-print]")) {
      window.print();
    }
  });
  // A link with data-progress shows that progress element while the next page is computed.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-progress]");
    var progress = link && document.querySelector(link.dataset.progress);
    if (progress) {
      progress.classList.add("htmx-request");
    }
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("[data-progress]").forEach(function (link) {
      var progress = document.querySelector(link.dataset.progress);
      if (progress) {
        progress.classList.remove("htmx-request");
      }
    });
  });
  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    document.body.addEventListener("htmx:afterSwap", function (event) {
      drawCharts(event.target);
    });
  });
})();
