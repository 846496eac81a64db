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
// 5. Times move on in the browser. A poll whose region has not changed is answered 204
//    and htmx leaves the region as it is (releases/views/live.py), so nothing re-renders
//    "3 min ago" or a running step's duration: they are brought up to date here from
//    their datetime attributes, written as the server writes them (relman_tags.relative
//    and duration), against the server's clock as the responses' Date headers tell it.
//    Keeping them out of the regions' versions is what lets an open page cost nothing
//    while nothing happens; a version with the minute in it would re-send the
//    superuser's whole dashboard every minute.
// 6. A helper script's output (data-helper-output="<id of the notes box>") is offered as
//    the notes: it fills the notes box while that is empty, once per run, and "Use as
//    notes" puts it there on demand. The box is preserved across polls, so what the person
//    wrote is never overwritten by a poll.
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
    refreshTimes(document);
  });

  // The server's clock minus this one's, in milliseconds.
  var skew = 0;

  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    var date = xhr && xhr.getResponseHeader("Date");
    if (date && !isNaN(Date.parse(date))) {
      skew = Date.parse(date) - Date.now();
    }
  });

  // Only the texts relman_tags.relative writes; a clock time or a date stays as it is.
  var RELATIVE = /^(just now|\d+ min ago|\d+ h ago|\d+ days? ago)$/;

  function relative(seconds, moment) {
    if (seconds < 45) {
      return "just now";
    }
    var minutes = Math.round(seconds / 60);
    if (minutes < 60) {
      return minutes + " min ago";
    }
    var hours = Math.floor(minutes / 60);
    if (hours < 24) {
      return hours + " h ago";
    }
    var days = Math.floor(hours / 24);
    if (days <= 30) {
      return days === 1 ? "1 day ago" : days + " days ago";
    }
    // The server writes the date in the site's time zone, which the page does not know.
    return moment.toISOString().slice(0, 10);
  }

  function duration(seconds) {
    var total = Math.max(Math.floor(seconds), 0);
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    if (hours) {
      return hours + " h " + minutes + " min";
    }
    if (minutes) {
      return minutes + " min " + (total % 60) + " s";
    }
    return total + " s";
  }

  function since(element, attribute) {
    var moment = new Date(element.getAttribute(attribute));
    return { moment: moment, seconds: (Date.now() + skew - moment.getTime()) / 1000 };
  }

  function refreshTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (element) {
      var text = element.textContent;
      if (RELATIVE.test(text)) {
        var age = since(element, "datetime");
        var current = relative(age.seconds, age.moment);
        if (current !== text) {
          element.textContent = current;
        }
      }
    });
  }

  function refreshDurations(root) {
    root.querySelectorAll("[data-running-since]").forEach(function (element) {
      var current = duration(since(element, "data-running-since").seconds);
      if (current !== element.textContent) {
        element.textContent = current;
      }
    });
    // A timeout's time left; the server answers when it runs out, and the region refreshes.
    root.querySelectorAll("[data-counts-down-to]").forEach(function (element) {
      var current = duration(-since(element, "data-counts-down-to").seconds);
      if (current !== element.textContent) {
        element.textContent = current;
      }
    });
  }

  // "Deploy later" takes a local date and time: the server needs to know whose.
  document.querySelectorAll("[data-browser-time-zone]").forEach(function (input) {
    try {
      input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (error) {
      input.value = "";
    }
  });

  function offerHelperOutput(root) {
    root.querySelectorAll("[data-helper-output]").forEach(function (output) {
      var notes = document.getElementById(output.getAttribute("data-helper-output"));
      var run = output.getAttribute("data-helper-run");
      if (notes && notes.value.trim() === "" && notes.getAttribute("data-offered-run") !== run) {
        notes.value = output.textContent;
        notes.setAttribute("data-offered-run", run);
      }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-use-as-notes]");
    if (!button) {
      return;
    }
    var output = document.getElementById(button.getAttribute("data-use-as-notes"));
    var notes = output && document.getElementById(output.getAttribute("data-helper-output"));
    if (notes) {
      notes.value = output.textContent;
      notes.focus();
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    offerHelperOutput(document);
  });
  offerHelperOutput(document);

  window.setInterval(function () {
    refreshDurations(document);
  }, 1000);
  window.setInterval(function () {
    refreshTimes(document);
  }, 15000);
})();
