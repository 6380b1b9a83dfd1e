/* The broadcast's change page and the dashboard: confirm the irreversible buttons, draw the
 * progress bars, and follow a sending broadcast by polling its progress endpoint every 2 s. */
(function () {
  "use strict";

  const POLL_MS = 2000;

  function confirmDangerousButtons() {
    document.querySelectorAll("form[data-wa-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.waConfirm)) {
          event.preventDefault();
        }
      });
    });
  }

  // The bars' widths are set here, not in a style attribute, which the CSP refuses.
  function drawBars() {
    document.querySelectorAll('[role="progressbar"]').forEach(function (meter) {
      const bar = meter.querySelector("[data-wa-bar]");
      if (bar) {
        bar.style.width = meter.getAttribute("aria-valuenow") + "%";
      }
    });
  }

  function followProgress() {
    const box = document.getElementById("wa-progress");
    if (!box || box.dataset.status !== "sending") {
      return;
    }
    const bar = box.querySelector("[data-wa-bar]");
    const meter = box.querySelector('[role="progressbar"]');

    function show(data) {
      box.querySelectorAll("[data-count]").forEach(function (element) {
        const value = data[element.dataset.count];
        if (value !== undefined) {
          element.textContent = String(value);
        }
      });
      bar.style.width = data.percent_done + "%";
      meter.setAttribute("aria-valuenow", String(data.percent_done));
    }

    async function poll() {
      try {
        const response = await fetch(box.dataset.url, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (response.ok) {
          const data = await response.json();
          show(data);
          if (data.status !== box.dataset.status) {
            // Sent, paused or cancelled: reload for the buttons that now apply.
            window.location.reload();
            return;
          }
        }
      } catch (error) {
        // A network hiccup: try again at the next tick.
      }
      window.setTimeout(poll, POLL_MS);
    }

    window.setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    confirmDangerousButtons();
    drawBars();
    followProgress();
  });
})();
