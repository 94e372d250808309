// Small behaviours shared by every page. No dependencies besides the vendored htmx.
(function () {
  "use strict";

  // Timestamps are rendered in UTC by the server; show them in the reader's zone.
  function localiseTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      var opts = el.dataset.local === "date"
        ? { dateStyle: "medium" }
        : { dateStyle: "medium", timeStyle: "short" };
      el.textContent = when.toLocaleString(undefined, opts);
      el.title = el.getAttribute("datetime");
    });
  }

  document.addEventListener("DOMContentLoaded", function () { localiseTimes(document); });
  document.addEventListener("htmx:afterSwap", function () { localiseTimes(document); });
})();
