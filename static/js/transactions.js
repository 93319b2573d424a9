// Transactions tab: tidy search URLs and the "/" shortcut to the search box (printing is
// app.js's [data-print]). No inline scripts (the CSP forbids them); everything hangs off data
// attributes.
(function () {
  "use strict";

  // The search form's URL keeps only the filters in use (bookmarkable, readable): empty fields
  // and defaults are left out of the request, so out of the pushed URL too.
  document.addEventListener("htmx:configRequest", (ev) => {
    const form = ev.detail.elt && ev.detail.elt.closest && ev.detail.elt.closest("#tx-search");
    const data = ev.detail.formData;
    if (!form || !data || ev.detail.verb !== "get") return;
    const drop = [];
    data.forEach((value, key) => {
      if (value === "" || (key === "field" && value === "auto")) drop.push(key);
    });
    drop.forEach((key) => data.delete(key));
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
