// Transactions tab: print buttons and the "/" shortcut to the search box. No inline scripts
// (the CSP forbids them); everything hangs off data attributes.
(function () {
  "use strict";

  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-print]");
    if (button) {
      ev.preventDefault();
      window.print();
    }
  });

  // "/" focuses the search box unless the user is typing somewhere already.
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const target = ev.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    const box = document.querySelector("[data-shortcut='/']");
    if (box) {
      ev.preventDefault();
      box.focus();
      box.select();
    }
  });
})();
