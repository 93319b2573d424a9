// Pages reached without a login (order page, ticket links). No inline scripts: the CSP forbids them.
(function () {
  "use strict";

  // <button data-print> prints the page (the invoice has a print stylesheet).
  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-print]");
    if (button) {
      ev.preventDefault();
      window.print();
    }
  });

  // The mail's "request a refund instead" link ends in #change: open that choice for the reader.
  function openFromHash() {
    if (window.location.hash !== "#change") return;
    const box = document.querySelector("[data-testid=change-refund]");
    if (box) {
      box.open = true;
      box.scrollIntoView({ block: "center" });
    }
  }
  document.addEventListener("DOMContentLoaded", openFromHash);
  document.addEventListener("htmx:afterSettle", openFromHash);
})();
