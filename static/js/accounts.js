// Accounts: the confirmation page takes the one-time code out of the address bar once the page
// has it (the code stays in the form), so it does not linger in history or get shared by copy.
(function () {
  "use strict";

  function stripToken() {
    const form = document.querySelector("form[data-strip-token]");
    if (form && window.history && window.history.replaceState) {
      window.history.replaceState(null, "", form.getAttribute("data-strip-token"));
    }
  }

  document.addEventListener("DOMContentLoaded", stripToken);
  document.addEventListener("htmx:afterSettle", stripToken);
})();
