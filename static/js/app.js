// Master Account Portal: small behaviours shared by every page. No inline scripts (the CSP
// forbids them); pages add their own static/js/<feature>.js through the head block.
(function () {
  "use strict";

  // A thin progress bar while any htmx request runs.
  let running = 0;
  document.addEventListener("htmx:beforeRequest", () => { running += 1; document.body.classList.add("htmx-busy"); });
  document.addEventListener("htmx:afterRequest", () => {
    running = Math.max(0, running - 1);
    if (!running) document.body.classList.remove("htmx-busy");
  });

  // Network failures get a visible message instead of silence.
  document.addEventListener("htmx:sendError", () => {
    const area = document.getElementById("page-alerts");
    if (!area) return;
    const div = document.createElement("div");
    div.className = "alert alert-danger alert-dismissible";
    div.setAttribute("role", "alert");
    div.textContent = "The server could not be reached. Check your connection and try again.";
    area.prepend(div);
  });

  // Live countdowns: <time data-countdown="2026-11-22T10:00:00Z">…</time>
  function formatLeft(ms) {
    if (ms <= 0) return "due now";
    const s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + String(m).padStart(2, "0") + "m";
    return m + "m " + String(s % 60).padStart(2, "0") + "s";
  }
  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach((el) => {
      const at = Date.parse(el.getAttribute("data-countdown"));
      if (!Number.isNaN(at)) el.textContent = formatLeft(at - now);
    });
  }
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSettle", tick);
  document.addEventListener("DOMContentLoaded", tick);

  // Buttons that ask first: <button data-confirm="Remove this account?">.
  document.addEventListener("click", (ev) => {
    const el = ev.target.closest("[data-confirm]");
    if (el && !window.confirm(el.getAttribute("data-confirm"))) {
      ev.preventDefault();
      ev.stopPropagation();
    }
  }, true);

  // <button data-print> prints the page (pages that offer it have a print stylesheet).
  document.addEventListener("click", (ev) => {
    if (ev.target.closest("[data-print]")) {
      ev.preventDefault();
      window.print();
    }
  });

  window.Portal = { formatLeft: formatLeft };
})();
