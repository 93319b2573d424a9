// Pages reached without a login (order page, ticket links). No inline scripts: the CSP forbids
// them. base.html loads this file on every portal page too, so it acts only inside .support-page.
(function () {
  "use strict";

  function onSupportPage() {
    return document.body && document.body.classList.contains("support-page");
  }

  // The mail's "request a refund instead" link ends in #change: open that choice for the reader.
  function openFromHash() {
    if (!onSupportPage() || window.location.hash !== "#change") return;
    const box = document.querySelector("[data-testid=change-refund]");
    if (box) {
      box.open = true;
      box.scrollIntoView({ block: "center" });
    }
  }
  document.addEventListener("DOMContentLoaded", openFromHash);
  document.addEventListener("htmx:afterSettle", openFromHash);
})();
