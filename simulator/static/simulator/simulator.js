// The simulator's phone: open at the newest message, as a chat app does, and offer the number
// the tester played last (kept in this browser only, never in a URL) when the page has none.
(function () {
  "use strict";
  var KEY = "infocomune.simulator.phone";
  document.querySelectorAll(".sim-chat").forEach(function (chat) {
    chat.scrollTop = chat.scrollHeight;
  });
  var form = document.querySelector(".sim-form");
  if (!form) {
    return;
  }
  var phone = form.elements.phone;
  try {
    if (form.dataset.simPhone) {
      window.localStorage.setItem(KEY, form.dataset.simPhone);
    } else if (!phone.value && window.localStorage.getItem(KEY)) {
      phone.value = window.localStorage.getItem(KEY);
    }
  } catch (error) {
    // Storage refused (private mode): the session still remembers the number until logout.
  }
})();
