// The PQL queue page. No dependencies besides the vendored htmx.
// - Keyboard: j / k move the selection, Enter opens the selected account's dossier,
//   c claims it; keys are ignored while typing in a field.
// - The list refreshes itself every data-refresh-seconds (60 on the page) with the
//   current URL, so filters and page are kept; it waits while a row form is open or a
//   field in the list has focus, and swaps only the rows (the scroll stays put).
// - A row answered with 400 (the form's error) or 409 (a lost claim race) is swapped in
//   by the site-wide htmx setting in app.js: it carries the message for the rep.
(function () {
  "use strict";

  var selectedId = null;
  var timer = null;

  function list() { return document.getElementById("queue-list"); }

  function rows() {
    var el = list();
    return el ? Array.prototype.slice.call(el.querySelectorAll("tr.queue-row")) : [];
  }

  function selectedRow() {
    if (!selectedId) return null;
    return rows().filter(function (row) { return row.dataset.itemId === selectedId; })[0] || null;
  }

  function mark(row) {
    rows().forEach(function (r) {
      r.classList.remove("is-selected");
      r.removeAttribute("aria-selected");
    });
    if (!row) return;
    row.classList.add("is-selected");
    row.setAttribute("aria-selected", "true");
  }

  function select(row) {
    selectedId = row ? row.dataset.itemId : null;
    mark(row);
    if (row) row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var at = all.indexOf(selectedRow());
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1) : at + step;
    select(all[Math.max(0, Math.min(all.length - 1, next))]);
  }

  function typing(target) {
    return target && target.closest &&
      target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']");
  }

  document.addEventListener("keydown", function (event) {
    if (!list() || event.defaultPrevented) return;
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var row;
    if (event.key === "j" || event.key === "k") {
      move(event.key === "j" ? 1 : -1);
      event.preventDefault();
    } else if (event.key === "Enter") {
      // Enter on a focused link or button does that control's job.
      if (event.target.closest && event.target.closest("a, button, summary")) return;
      row = selectedRow();
      if (row) {
        event.preventDefault();
        window.location.assign(row.dataset.dossierUrl);
      }
    } else if (event.key === "c") {
      row = selectedRow();
      var claim = row && row.querySelector("[data-action='claim']");
      if (claim) {
        event.preventDefault();
        claim.click();
      }
    }
  });

  function paused(el) {
    if (document.hidden || el.querySelector(".queue-menu[open]")) return true;
    var active = document.activeElement;
    return !!(active && el.contains(active) && typing(active));
  }

  function schedule() {
    clearTimeout(timer);
    var el = list();
    var seconds = el ? parseFloat(el.dataset.refreshSeconds) : 0;
    if (!(seconds > 0)) return;
    timer = setTimeout(function () {
      if (!paused(el)) {
        htmx.ajax("GET", window.location.pathname + window.location.search, {
          source: el, target: el, swap: "innerHTML"
        });
      }
      schedule();
    }, seconds * 1000);
  }

  // Keep the selection on the same item across refreshes and row swaps.
  document.addEventListener("htmx:afterSettle", function () { mark(selectedRow()); });

  document.addEventListener("DOMContentLoaded", function () {
    var el = list();
    if (!el) return;
    // A changed interval (data-refresh-seconds) takes effect at once.
    new MutationObserver(schedule).observe(el, {
      attributes: true, attributeFilter: ["data-refresh-seconds"]
    });
    schedule();
  });
})();
