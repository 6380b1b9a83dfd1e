/* Who a broadcast reaches if approved now, kept live on the editor and the approval page:
 * recipients in total, inside their 24-hour window, reached only by a template. Polls the
 * admin's reach endpoint, and asks again at once when the editor picks another template. */
(function () {
  "use strict";

  const POLL_MS = 15000;

  function init() {
    const box = document.getElementById("wa-reach");
    if (!box) {
      return;
    }
    const select = box.hasAttribute("data-editable") ? document.getElementById("id_template") : null;
    const warning = box.querySelector("[data-reach-warning]");

    function templateId() {
      return select ? select.value : box.dataset.template;
    }

    async function refresh() {
      const url = new URL(box.dataset.url, window.location.href);
      if (templateId()) {
        url.searchParams.set("template", templateId());
      }
      try {
        const response = await fetch(url, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (!response.ok) {
          return;
        }
        const data = await response.json();
        box.querySelectorAll("[data-reach]").forEach(function (element) {
          const value = data[element.dataset.reach];
          if (value !== undefined) {
            element.textContent = String(value);
          }
        });
        warning.hidden = !data.needs_window_only;
      } catch (error) {
        // A network hiccup: the next tick tries again.
      }
    }

    if (select) {
      select.addEventListener("change", refresh);
    }
    window.setInterval(refresh, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", init);
})();
