// The dossier: copy the play's first message. (The forms' 400/409 answers are swapped in by
// the site-wide htmx.config.responseHandling in app.js.)
(function () {
  "use strict";

  function copied(button, ok) {
    var status = button.parentNode.querySelector(".copy-status");
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = ok ? "Copied" : "Select and copy";
    button.dataset.copied = ok ? "true" : "false";
    if (status) {
      status.textContent = ok
        ? "The message is on your clipboard."
        : "Copying was refused: the message is selected, press Ctrl+C (⌘C).";
    }
    window.setTimeout(function () {
      button.textContent = label;
    }, 2500);
  }

  // The old way, for browsers without the Clipboard API or without permission (plain
  // HTTP on a closed network is not a secure context).
  function fallback(field) {
    field.focus();
    field.select();
    try {
      return document.execCommand("copy");
    } catch (e) {
      return false;
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var field = document.querySelector(button.dataset.copyTarget);
    if (!field) return;
    var text = field.value !== undefined ? field.value : field.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { copied(button, true); },
        function () { copied(button, fallback(field)); }
      );
    } else {
      copied(button, fallback(field));
    }
  });
})();
