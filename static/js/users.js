// Users tab: small enhancements. Everything works without them (plain forms and links).
(function () {
  "use strict";

  // "API only" switch on the new-user form: say what happens to a web user vs an API user.
  function syncApiOnly(root) {
    (root || document).querySelectorAll("[data-api-only]").forEach((box) => {
      const form = box.closest("form");
      if (!form) return;
      form.querySelectorAll("[data-when-web]").forEach((el) => { el.hidden = box.checked; });
      form.querySelectorAll("[data-when-api]").forEach((el) => { el.hidden = !box.checked; });
    });
  }

  // Show controls that need JavaScript (copy buttons, All/None) only when it runs.
  function revealJsOnly(root) {
    (root || document).querySelectorAll("[data-js-only]").forEach((el) => { el.hidden = false; });
  }

  function init(root) { syncApiOnly(root); revealJsOnly(root); }

  document.addEventListener("change", (ev) => {
    if (ev.target.matches("[data-api-only]")) syncApiOnly();
  });

  document.addEventListener("click", (ev) => {
    // All / None for the account checkboxes.
    const toggle = ev.target.closest("[data-check]");
    if (toggle) {
      const group = toggle.closest("[data-account-toggles]");
      const list = group && document.getElementById(group.getAttribute("data-account-toggles") + "-list");
      if (list) {
        const on = toggle.getAttribute("data-check") === "all";
        list.querySelectorAll("input[type=checkbox]:not(:disabled)").forEach((box) => { box.checked = on; });
      }
      return;
    }
    // Copy the API key shown once.
    const copy = ev.target.closest("[data-copy]");
    if (copy) {
      const input = document.querySelector(copy.getAttribute("data-copy"));
      if (!input) return;
      const label = copy.querySelector("span") || copy;
      const done = () => { label.textContent = "Copied"; setTimeout(() => { label.textContent = "Copy"; }, 2000); };
      input.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, () => { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    }
  });

  document.addEventListener("DOMContentLoaded", () => init());
  document.addEventListener("htmx:afterSettle", (ev) => init(ev.target));
})();
