// Tickets tab: keyboard work in the queue (j/k move, Enter opens, / searches), c focuses the
// comment box on a ticket, and short filter URLs. base.html loads this on every page, so every
// handler is delegated from the document and acts only on the Tickets pages' own elements.
// No inline scripts (CSP); nothing here is needed for the pages to work.
(function () {
  "use strict";

  function isTyping(el) {
    if (!el || el === document.body) return false;
    if (el.isContentEditable) return true;
    const tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  function rows() {
    return Array.from(document.querySelectorAll("#queue-table > tbody[data-ticket-row]"));
  }

  function selectedIndex(list) {
    const active = document.activeElement && document.activeElement.closest("tbody[data-ticket-row]");
    if (active) return list.indexOf(active);
    return list.findIndex((row) => row.classList.contains("is-selected"));
  }

  function select(list, index) {
    list.forEach((row) => { row.classList.remove("is-selected"); row.removeAttribute("aria-current"); });
    const row = list[index];
    if (!row) return;
    row.classList.add("is-selected");
    row.setAttribute("aria-current", "true");
    const link = row.querySelector(".ticket-link");
    if (link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    const list = rows();
    if (!list.length) return false;
    const at = selectedIndex(list);
    const next = at < 0 ? (step > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, at + step));
    select(list, next);
    return true;
  }

  function focusField(id) {
    const el = document.getElementById(id);
    if (!el) return false;
    el.focus();
    if (typeof el.select === "function" && el.tagName === "INPUT") el.select();
    return true;
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.defaultPrevented) return;
    const target = ev.target;
    if (isTyping(target)) {
      // Escape leaves the search box (so j/k work) and keeps the search: a search field would
      // otherwise clear itself and reload the queue.
      if (ev.key === "Escape" && target.id === "queue-q") { ev.preventDefault(); target.blur(); }
      return;
    }
    let handled = false;
    switch (ev.key) {
      case "j": handled = move(1); break;
      case "k": handled = move(-1); break;
      case "/": handled = focusField("queue-q"); break;  // only the queue has this box
      case "c": handled = !!document.getElementById("ticket-main") && focusField("comment"); break;
      case "Enter": {
        // A focused link or button does its own thing; otherwise open the selected row.
        if (target.closest && target.closest("a, button")) return;
        const list = rows();
        const row = list[selectedIndex(list)];
        const link = row && row.querySelector(".ticket-link");
        if (link) { link.click(); handled = true; }
        break;
      }
      default: return;
    }
    if (handled) ev.preventDefault();
  });

  // htmx's settle step puts a swapped row's class attribute back a moment after the swap, which
  // would drop a selection made in that moment; aria-current survives it, so restore the class.
  document.addEventListener("htmx:afterSettle", () => {
    rows().forEach((row) => {
      if (row.getAttribute("aria-current") === "true") row.classList.add("is-selected");
    });
  });

  // Enter in a field that belongs to one action presses that action's button (the ticket
  // page's form has several; the browser would otherwise press the first one).
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || ev.target.tagName !== "INPUT") return;
    const buttonId = ev.target.getAttribute("data-enter-clicks");
    const button = buttonId && document.getElementById(buttonId);
    if (button) { ev.preventDefault(); button.click(); }
  });

  // Keep the filter URLs short: leave out empty filters.
  document.addEventListener("htmx:configRequest", (ev) => {
    const elt = ev.detail.elt;
    if (!elt || elt.id !== "queue-filters") return;
    const params = ev.detail.formData || null;
    if (!params || typeof params.keys !== "function") return;
    const names = new Set(Array.from(params.keys()));
    names.forEach((name) => {
      if (params.getAll(name).every((v) => v === "")) params.delete(name);
    });
  });
})();
