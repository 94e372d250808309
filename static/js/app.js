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

  // Forms answered with their errors (400 bad input, 409 a lost race, 422) are swapped in
  // like any answer, so the message shows where the form was; other errors are not.
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      window.htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "^(400|409|422)$", swap: true, error: false },
        { code: "[45]..", swap: false, error: true },
        { code: "...", swap: false }
      ];
    }
    localiseTimes(document);
  });
  document.addEventListener("htmx:afterSwap", function () { localiseTimes(document); });
})();
