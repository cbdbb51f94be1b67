// H5 member pages: the red-packet amount animation and the flash-sale countdown.
(function () {
  "use strict";
  function yuan(fen) {
    return "¥" + (fen / 100).toFixed(2);
  }
  function animateAmounts(root) {
    root.querySelectorAll("[data-animate][data-amount]").forEach(function (element) {
      var target = parseInt(element.dataset.amount, 10);
      var started = null;
      element.removeAttribute("data-animate");
      function step(now) {
        if (started === null) { started = now; }
        var share = Math.min((now - started) / 900, 1);
        element.textContent = yuan(Math.round(target * (1 - Math.pow(1 - share, 3))));
        if (share < 1) { window.requestAnimationFrame(step); }
      }
      window.requestAnimationFrame(step);
    });
  }
  function pad(number) {
    return number < 10 ? "0" + number : String(number);
  }
  function left(ms) {
    var seconds = Math.max(0, Math.floor(ms / 1000));
    var days = Math.floor(seconds / 86400);
    var text = pad(Math.floor(seconds / 3600) % 24) + ":" + pad(Math.floor(seconds / 60) % 60) +
      ":" + pad(seconds % 60);
    return days > 0 ? days + " 天 " + text : text;
  }
  function tick() {
    var element = document.getElementById("countdown");
    if (!element) { return; }
    var now = Date.now();
    var starts = parseInt(element.dataset.starts, 10);
    var ends = parseInt(element.dataset.ends, 10);
    var button = document.getElementById("buy");
    if (now < starts) {
      element.textContent = "距开始 " + left(starts - now);
    } else if (now < ends) {
      element.textContent = "距结束 " + left(ends - now);
      if (button && button.dataset.phase === "before") {
        button.dataset.phase = "open";
        button.disabled = false;
        button.textContent = "立即抢购";
      }
    } else {
      element.textContent = "已结束";
      if (button) { button.disabled = true; button.textContent = "已结束"; }
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    animateAmounts(document);
    tick();
    window.setInterval(tick, 1000);
    document.body.addEventListener("htmx:afterSwap", function (event) {
      animateAmounts(event.target);
      tick();
    });
  });
})();
