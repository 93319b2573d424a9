// Auth pages: small conveniences on top of server-rendered forms. Nothing here is needed for a
// form to work: the Save button of a new-password form is disabled by the server until every
// rule is met, and each checklist answer (POST /auth/password-check, htmx) swaps in a button
// carrying its new state. This file adds show/hide password and copy/print of recovery codes;
// their buttons stay hidden until it runs. Event delegation, so it also serves pages reached
// later through hx-boost.
(function () {
  "use strict";

  function reveal(root) {
    (root || document).querySelectorAll("[data-pw-toggle][hidden], [data-copy-codes][hidden], [data-print][hidden]")
      .forEach((el) => { el.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", () => reveal(document));
  document.addEventListener("htmx:afterSettle", () => reveal(document));

  // Show / hide the password typed so far.
  document.addEventListener("click", (ev) => {
    const toggle = ev.target.closest("[data-pw-toggle]");
    if (!toggle) return;
    const input = document.getElementById(toggle.getAttribute("data-pw-toggle"));
    if (!input) return;
    const show = input.type === "password";
    input.type = show ? "text" : "password";
    toggle.setAttribute("aria-label", show ? "Hide the password" : "Show the password");
    const icon = toggle.querySelector("i");
    if (icon) icon.className = show ? "bi bi-eye-slash" : "bi bi-eye";
  });

  // Recovery codes: copy all (printing is app.js's [data-print]).
  document.addEventListener("click", (ev) => {
    const copy = ev.target.closest("[data-copy-codes]");
    if (copy && navigator.clipboard) {
      navigator.clipboard.writeText(copy.getAttribute("data-copy-codes")).then(() => {
        copy.textContent = "Copied";
      });
    }
  });
})();
