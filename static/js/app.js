// Relman's few page behaviours. No inline handlers anywhere: the Content-Security-Policy
// allows scripts from this site only.
//
// 1. Confirmation: a submit button with data-confirm="question" opens the page's one
//    <dialog id="confirm-dialog">; on "yes" its form is submitted with confirmed=1 (and the
//    button's own name=value). The server refuses unconfirmed aborts and cancels and asks
//    on a page of its own, so without this script nothing destructive happens unasked.
// 2. Live regions poll every two seconds; a poll is skipped while the dialog is open, so
//    the form it would submit is not replaced under it.
// 3. Messages can be dismissed; success messages fade after a few seconds.
// 4. A poll answered by the sign-in page (the session ended) goes to that page.
(function () {
  "use strict";

  var dialog = null;
  var pendingButton = null;

  function hidden(form, name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    input.setAttribute("data-confirm-added", "");
    form.appendChild(input);
    return input;
  }

  function submitConfirmed(button) {
    var form = button.form;
    if (!form || !form.isConnected) {
      return;
    }
    var added = [hidden(form, "confirmed", "1")];
    if (button.name) {
      added.push(hidden(form, button.name, button.value));
    }
    form.requestSubmit();
    // The form's data was collected during requestSubmit(); a form that stays on the page
    // (a refused request) must not keep these for its next submission.
    added.forEach(function (input) {
      input.remove();
    });
  }

  function openConfirm(button) {
    if (!dialog || typeof dialog.showModal !== "function") {
      button.form.requestSubmit(button); // the server asks instead
      return;
    }
    pendingButton = button;
    dialog.querySelector("[data-confirm-question]").textContent = button.getAttribute("data-confirm");
    dialog.querySelector("[data-confirm-accept]").textContent =
      button.getAttribute("data-confirm-accept") || button.textContent.trim();
    dialog.returnValue = "";
    dialog.showModal();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-confirm]");
    if (!button || !button.form || button.disabled) {
      return;
    }
    event.preventDefault();
    openConfirm(button);
  });

  document.addEventListener("DOMContentLoaded", function () {
    dialog = document.getElementById("confirm-dialog");
    if (dialog) {
      dialog.addEventListener("close", function () {
        var button = pendingButton;
        pendingButton = null;
        if (button && dialog.returnValue === "confirm") {
          submitConfirmed(button);
        }
      });
    }
    prepareMessages(document);
  });

  // Skip a poll (a GET from a live region) while the dialog is open.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var verb = event.detail.requestConfig && event.detail.requestConfig.verb;
    if (dialog && dialog.open && verb === "get") {
      event.preventDefault();
    }
  });

  // A live region whose session ended gets the sign-in page back: go there instead of
  // swapping it into the region.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    var login = document.body.getAttribute("data-login-url");
    if (login && xhr && xhr.responseURL && new URL(xhr.responseURL).pathname === login) {
      event.detail.shouldSwap = false;
      window.location.assign(xhr.responseURL);
    }
  });

  function prepareMessages(root) {
    var messages = root.querySelectorAll ? root.querySelectorAll(".message:not([data-ready])") : [];
    messages.forEach(function (message) {
      message.setAttribute("data-ready", "");
      var close = document.createElement("button");
      close.type = "button";
      close.className = "message__close";
      close.setAttribute("aria-label", "Dismiss");
      close.textContent = "×";
      close.addEventListener("click", function () {
        message.remove();
      });
      message.appendChild(close);
      if (message.classList.contains("message--success")) {
        window.setTimeout(function () {
          message.classList.add("message--leaving");
          window.setTimeout(function () {
            message.remove();
          }, 400);
        }, 6000);
      }
    });
  }

  document.addEventListener("htmx:afterSettle", function () {
    prepareMessages(document);
  });
})();
