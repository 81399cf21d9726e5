/* The admin page's few interactions; everything also works without this script (plain form posts, and the
   server asks for confirmation with a page). No library, nothing loaded from elsewhere. */
(function () {
  "use strict";

  function postAction(form, action) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "action";
    input.value = action;
    form.appendChild(input);
    form.submit();
  }

  // Copy buttons: the text of the element named by data-copy (an input's value), then "Copied" for a moment.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copy);
      var note = button.parentNode.querySelector("[data-testid=copied]");
      var text = "value" in source && source.tagName !== "CODE" ? source.value : source.textContent;
      var done = function () {
        if (!note) { return; }
        note.hidden = false;
        setTimeout(function () { note.hidden = true; }, 3000);
      };
      var fallback = function () {
        if (source.select) {
          source.select();
        } else {
          var range = document.createRange();
          range.selectNodeContents(source);
          var selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
        }
        if (document.execCommand("copy")) { done(); }
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text.trim()).then(done, fallback);
      } else {
        fallback();
      }
    });
  });

  // Zoho: name the API console of the chosen data center in the first step.
  var dataCenter = document.getElementById("zoho_data_center");
  var consoleHost = document.querySelector("[data-zoho-console]");
  var consolesJson = document.getElementById("zoho-consoles");
  if (dataCenter && consoleHost && consolesJson) {
    var consoles = JSON.parse(consolesJson.textContent);
    var showConsole = function () { if (consoles[dataCenter.value]) { consoleHost.textContent = consoles[dataCenter.value]; } };
    dataCenter.addEventListener("change", showConsole);
    showConsole();
  }

  // Confirmations: a destructive form asks in a dialog first; confirming posts it with confirmed=yes (without
  // script the server shows the same question as a page).
  var dialog = document.getElementById("db-confirm");
  if (dialog && typeof dialog.showModal === "function") {
    var pending = null;
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (form.querySelector("input[name=confirmed]")) { return; }
        event.preventDefault();
        pending = form;
        document.getElementById("db-confirm-title").textContent = form.dataset.confirmTitle || "Are you sure?";
        document.getElementById("db-confirm-words").textContent = form.dataset.confirm;
        document.getElementById("db-confirm-button").textContent = form.dataset.confirmButton || "Confirm";
        dialog.returnValue = "";
        dialog.showModal();
        dialog.querySelector("[data-testid=confirm-cancel]").focus();
      });
    });
    dialog.addEventListener("close", function () {
      if (dialog.returnValue === "confirm" && pending) {
        var confirmed = document.createElement("input");
        confirmed.type = "hidden";
        confirmed.name = "confirmed";
        confirmed.value = "yes";
        pending.appendChild(confirmed);
        pending.submit();
      }
      pending = null;
    });
  }

  // The item dialog: choices that change what the form can offer reload it (object → its modes, project →
  // its issue types, status field → its values).
  document.querySelectorAll("select[data-reload]").forEach(function (select) {
    select.addEventListener("change", function () { postAction(select.form, select.dataset.reload); });
  });
  // A mapping row with both fields chosen reloads step 2 so that its value pickers list the right values.
  document.querySelectorAll("select[data-reload-pair]").forEach(function (select) {
    select.addEventListener("change", function () {
      var row = select.closest("tr");
      var hd = row.querySelector("select[name$=_helpdesk]");
      var jira = row.querySelector("select[name$=_jira]");
      if (hd.value && jira.value) { postAction(select.form, select.dataset.reloadPair); }
    });
  });

  var itemForm = document.querySelector("form[data-testid=item-form]");
  if (itemForm) {
    // Enter in a text field does not press the first button of the form (Back, or the standard mapping).
    itemForm.addEventListener("keydown", function (event) {
      var target = event.target;
      if (event.key === "Enter" && target.tagName === "INPUT" && /^(text|search)$/.test(target.type)) {
        event.preventDefault();
      }
    });
  }

  // Display fields: filter the list as the admin types; warn while no field is chosen (display items).
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var list = document.getElementById(input.dataset.filter);
    input.addEventListener("input", function () {
      var words = input.value.trim().toLowerCase();
      list.querySelectorAll("li").forEach(function (li) {
        li.hidden = words !== "" && li.dataset.label.indexOf(words) === -1;
      });
    });
  });
  var warning = document.querySelector("[data-testid=no-display-fields]");
  var modeInput = itemForm && itemForm.querySelector("input[type=hidden][name=mode]");
  if (warning && modeInput && modeInput.value === "display") {
    var boxes = itemForm.querySelectorAll("input[type=checkbox][name=display_fields]");
    var update = function () {
      warning.hidden = Array.prototype.some.call(boxes, function (box) { return box.checked; });
    };
    boxes.forEach(function (box) { box.addEventListener("change", update); });
  }
})();
