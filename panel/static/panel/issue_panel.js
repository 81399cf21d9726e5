/* Deskbridge issue panel. Calls the panel API with a context JWT from AP.context.getToken() when
   Connect's all.js is loaded, or with the page session the panel was rendered with. */
(function () {
  "use strict";
  var root = document.getElementById("db-panel");
  var cardsEl = document.getElementById("db-cards");
  var noticeEl = document.getElementById("db-notice");
  var statusEl = document.getElementById("db-status");
  var dialog = document.getElementById("db-dialog");
  var q = document.getElementById("db-q");
  var hits = document.getElementById("db-hits");
  var hint = document.getElementById("db-hint");
  var linkById = document.getElementById("db-link-id");
  var confirmDialog = document.getElementById("db-confirm");
  var issue = {
    id: root.dataset.issueId, key: root.dataset.issueKey,
    projectId: root.dataset.projectId, issueTypeId: root.dataset.issueTypeId
  };
  var linksUrl = root.dataset.linkUrl.replace(/\/$/, "");
  var currentItem = null;
  var opener = null;       // the button that opened a dialog: focus goes back to it
  var searchTimer = null;
  var searchSeq = 0;       // answers to older searches are dropped
  var searching = false;
  var linking = false;
  var results = [];        // the current search results
  var active = -1;         // the highlighted result (-1: none)
  var warnings = {};       // link id → a warning from linking it (e.g. the link note was refused)
  var pendingUnlink = null;
  var pendingUnlinkItem = null;

  // The page session (bound to this issue by the panel page Jira signed) needs no call to Jira; once it
  // expires, a fresh context token from Connect's all.js takes over when it is loaded.
  var useContextToken = false;

  function authHeaders() {
    return new Promise(function (resolve) {
      if (useContextToken && window.AP && AP.context && AP.context.getToken) {
        AP.context.getToken(function (token) { resolve({"Authorization": "JWT " + token}); });
      } else {
        resolve({"X-Deskbridge-Session": root.dataset.session});
      }
    });
  }

  function api(method, url, body, retried) {
    return authHeaders().then(function (headers) {
      headers["Accept"] = "application/json";
      if (body) { headers["Content-Type"] = "application/json"; }
      return fetch(url, {method: method, headers: headers, body: body ? JSON.stringify(body) : undefined})
        .catch(function () {
          throw new Error("Deskbridge could not be reached. Check your connection and try again.");
        });
    }).then(function (response) {
      if (response.status === 204) { return null; }
      return response.json().catch(function () {
        throw new Error("Deskbridge answered with an error (HTTP " + response.status + "). Try again shortly.");
      }).then(function (data) {
        if (response.status === 401 && data.code === "session_expired" && !retried && window.AP && AP.context) {
          useContextToken = true;
          return api(method, url, body, true);
        }
        if (!response.ok) {
          var failure = new Error(data.message || ("HTTP " + response.status + ". Try again shortly."));
          failure.code = data.code || "";
          failure.extra = data.extra || {};
          throw failure;
        }
        return data;
      });
    });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function say(message, kind) {
    statusEl.className = !message ? "" : kind === "error" ? "db-error" : kind === "warn" ? "db-warn" : "db-ok";
    statusEl.textContent = message || "";
  }

  // --- time -----------------------------------------------------------------------------------------
  function ago(iso) {
    var seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 45) { return "just now"; }
    var steps = [[60, "minute"], [3600, "hour"], [86400, "day"], [2592000, "month"], [31536000, "year"]];
    var unit = steps[0];
    for (var i = 0; i < steps.length; i++) { if (seconds >= steps[i][0] * 0.75) { unit = steps[i]; } }
    var n = Math.max(1, Math.round(seconds / unit[0]));
    return n + " " + unit[1] + (n === 1 ? "" : "s") + " ago";
  }

  function timeEl(iso) {
    var exact = new Date(iso);
    return el("time", {"datetime": iso, "title": exact.toLocaleString()}, ago(iso));
  }

  function line(cls, parts, attrs) {
    var p = el("p", Object.assign({"class": cls}, attrs || {}));
    parts.forEach(function (part) { p.appendChild(typeof part === "string" ? document.createTextNode(part) : part); });
    return p;
  }

  // --- status lozenges: the status in words, coloured by kind ----------------------------------------
  var LOZENGE = {
    "new": "new", "open": "inprogress", "in progress": "inprogress", "pending": "moved", "hold": "moved",
    "on hold": "moved", "on-hold": "moved", "waiting": "moved", "escalated": "removed", "overdue": "removed",
    "solved": "success", "closed": "success", "resolved": "success", "completed": "success", "active": "success",
    "expired": "removed"
  };

  function lozenge(status) {
    var kind = LOZENGE[String(status).toLowerCase()] || "";
    return el("span", {"class": "db-lozenge " + kind, "data-testid": "status", "title": "Status: " + status}, status);
  }

  // --- cards ----------------------------------------------------------------------------------------
  function render(data) {
    cardsEl.innerHTML = "";
    noticeEl.innerHTML = "";
    if (data.notice) {
      noticeEl.appendChild(el("div", {"class": "db-warn", "data-testid": "disconnected"}, data.notice));
    }
    if (!data.cards.length && data.state !== "disconnected") {
      cardsEl.appendChild(el("p", {"class": "meta", "data-testid": "no-cards"},
        "No Deskbridge items apply to this issue's project and type. A Jira admin can add one on the Deskbridge " +
        "admin page."));
    }
    data.cards.forEach(function (card) { cardsEl.appendChild(renderCard(card)); });
  }

  function renderCard(card) {
    var item = card.item;
    var box = el("section", {"class": "db-card", "data-testid": "card", "data-item": item.id,
                             "aria-labelledby": "db-card-" + item.id});
    var header = el("div", {"class": "db-card-header"});
    var heading = el("div");
    heading.appendChild(el("h2", {"id": "db-card-" + item.id}, item.name));
    heading.appendChild(el("p", {"class": "meta db-card-meta"},
      item.brand + " · " + item.object_label + " · " + item.mode_label));
    header.appendChild(heading);
    if (item.read_only) {
      header.appendChild(el("span", {"class": "db-lozenge", "data-testid": "read-only"}, "Read-only"));
    }
    box.appendChild(header);
    if (!card.links.length) {
      box.appendChild(el("p", {"class": "meta db-empty-links"}, "No " + item.object_label.toLowerCase() + " linked yet."));
    }
    card.links.forEach(function (link) { box.appendChild(renderRecord(item, link)); });
    if (!item.read_only) {
      var footer = el("div", {"class": "db-card-footer"});
      var linkBtn = el("button", {"type": "button", "class": "secondary", "data-testid": "link",
                                  "aria-haspopup": "dialog"}, "Link " + item.object_label.toLowerCase());
      linkBtn.addEventListener("click", function () { openDialog(item, linkBtn); });
      footer.appendChild(linkBtn);
      // An issue has one record per item: once linked through it, there is nothing to create here.
      var createLabel = item.synchronized && !card.links.length && createLabelOf(item);
      if (createLabel) {
        var createBtn = el("button", {"type": "button", "class": "secondary", "data-testid": "create",
                                      "aria-haspopup": "dialog"}, createLabel);
        createBtn.addEventListener("click", function () { openCreate(item, createLabel, createBtn); });
        footer.appendChild(createBtn);
      }
      box.appendChild(footer);
    }
    return box;
  }

  function renderRecord(item, link) {
    var rec = el("article", {"class": "db-record", "data-testid": "record", "data-record": link.record_id,
                             "data-link": link.id, "aria-label": link.title});
    var title = el("div", {"class": "db-record-title"});
    title.appendChild(el("strong", {}, link.title));
    if (link.status) { title.appendChild(lozenge(link.status)); }
    rec.appendChild(title);

    if (warnings[link.id]) {
      rec.appendChild(el("p", {"class": "db-warn", "data-testid": "link-warning", "role": "alert"}, warnings[link.id]));
    }
    link.problems.forEach(function (problem) {
      var parts = [problem.message];
      if (problem.at) { parts.push(" ("); parts.push(timeEl(problem.at)); parts.push(")"); }
      rec.appendChild(line(problem.code === "sync_error" ? "db-error" : "db-warn", parts,
        {"data-testid": "link-problem", "data-problem": problem.code}));
    });
    if (item.synchronized) {
      var syncParts = [item.sync_words + " · "];
      if (item.last_sync_at) { syncParts.push("last synced "); syncParts.push(timeEl(item.last_sync_at)); }
      else { syncParts.push("not synced yet"); }
      if (link.origin === "auto") { syncParts.push(" · made by sync"); }
      rec.appendChild(line("meta db-sync-line", syncParts, {"data-testid": "sync-line"}));
    }

    var shown = link.fields.filter(function (f) { return f.value !== null && String(f.value).trim() !== ""; });
    if (shown.length) {
      var table = el("table");
      shown.forEach(function (f) {
        var tr = el("tr", {"data-field": f.id});
        tr.appendChild(el("th", {"scope": "row"}, f.label));
        tr.appendChild(el("td", {}, f.value));
        table.appendChild(tr);
      });
      rec.appendChild(table);
    }
    if (link.preview_updated_at) {
      rec.appendChild(line("meta db-asof", ["As of ", timeEl(link.preview_updated_at)], {"data-testid": "as-of"}));
    }

    // Deleted in the helpdesk: there is nothing to refresh or open; unlinking makes room for another record.
    var broken = isBroken(link);
    if (broken && !item.read_only && link.can_unlink) {
      rec.appendChild(el("p", {"class": "meta", "data-testid": "broken-hint"}, "Unlink it to " + afterUnlink(item)));
    }

    var actions = el("div", {"class": "db-actions"});
    if (link.url && !broken) {
      actions.appendChild(el("a", {"href": link.url, "target": "_blank", "rel": "noopener", "data-testid": "open",
                                   "aria-label": "Open in " + item.brand + ": " + link.title + " (new tab)"},
                             "Open in " + item.brand));
    }
    if (!item.read_only && !broken) {
      var refresh = el("button", {"type": "button", "class": "secondary small", "data-testid": "refresh",
                                  "aria-label": "Refresh " + link.title}, "Refresh");
      refresh.addEventListener("click", function () {
        refresh.disabled = true;
        say("Refreshing " + link.title + "…", "info");
        api("POST", linksUrl + "/" + link.id + "/refresh").then(function () {
          say("Refreshed."); return load();
        }).catch(function (e) { refresh.disabled = false; say(e.message, "error"); });
      });
      actions.appendChild(refresh);
    }
    if (!item.read_only && link.can_unlink) {
      var unlink = el("button", {"type": "button", "class": "subtle small", "data-testid": "unlink",
                                 "aria-haspopup": "dialog", "aria-label": "Unlink " + link.title}, "Unlink");
      unlink.addEventListener("click", function () { askUnlink(item, link, unlink); });
      actions.appendChild(unlink);
    }
    if (!link.can_unlink) {
      actions.appendChild(el("span", {"class": "meta"}, "Managed by sync"));
    }
    rec.appendChild(actions);
    return rec;
  }

  function isBroken(link) {
    return link.problems.some(function (p) { return p.code === "record_deleted"; });
  }

  // What a broken link's card offers once it is unlinked, in words.
  function afterUnlink(item) {
    return "link another " + recordNoun(item) + (createLabelOf(item) && item.synchronized ? " or create a new one." : ".");
  }

  // One record of the item's object in words ("ticket", "customer", "time entry").
  function recordNoun(item) {
    var label = item.object_label.toLowerCase();
    return /ies$/.test(label) ? label.slice(0, -3) + "y" : label.replace(/s$/, "");
  }

  function load() {
    var url = root.dataset.api + "?issue_id=" + encodeURIComponent(issue.id);
    return api("GET", url).then(render).catch(function (e) { say(e.message, "error"); });
  }

  // --- unlink, after a confirmation ------------------------------------------------------------------
  function askUnlink(item, link, button) {
    pendingUnlink = link;
    pendingUnlinkItem = item;
    opener = button;
    document.getElementById("db-confirm-title").textContent = "Unlink " + link.title + "?";
    document.getElementById("db-confirm-text").textContent = isBroken(link) ?
      "It was deleted in " + item.brand + ", so this link is broken. Unlinking removes it from " + issue.key +
      "; you can then " + afterUnlink(item) :
      "It is no longer shown on " + issue.key + (item.synchronized ? " and stops syncing" : "") + ". Nothing is " +
      "changed or deleted in " + item.brand + "; you can link it again later.";
    showModal(confirmDialog);
    document.getElementById("db-confirm-cancel").focus();
  }

  document.getElementById("db-confirm-unlink").addEventListener("click", function () {
    var link = pendingUnlink;
    var item = pendingUnlinkItem;
    if (!link) { return; }
    closeModal(confirmDialog);
    say("Unlinking…", "info");
    api("DELETE", linksUrl + "/" + link.id).then(function () {
      pendingUnlink = null;
      say("Unlinked."); return load().then(function () {
        // The Unlink pressed is gone with its record: the focus goes to what the card offers next.
        var card = cardsEl.querySelector("[data-testid=card][data-item='" + item.id + "']");
        var next = card && (card.querySelector("[data-testid=create]") || card.querySelector("[data-testid=link]"));
        if (next) { next.focus(); }
      });
    }).catch(function (e) { say(e.message, "error"); });
  });
  document.getElementById("db-confirm-cancel").addEventListener("click", function () {
    pendingUnlink = null; closeModal(confirmDialog);
  });

  // --- dialogs ----------------------------------------------------------------------------------------
  function showModal(d) { if (d.showModal) { d.showModal(); } else { d.setAttribute("open", ""); } }
  function closeModal(d) { if (d.close) { d.close(); } else { d.removeAttribute("open"); } }
  [dialog, confirmDialog].forEach(function (d) {
    d.addEventListener("close", function () {
      if (d === dialog) { clearTimeout(searchTimer); searchSeq++; }
      if (opener && document.body.contains(opener)) { opener.focus(); }
    });
  });

  function setHint(text, kind) {
    hint.className = "db-hint " + (kind === "error" ? "db-error" : kind === "warn" ? "db-warn" : "meta");
    hint.textContent = text || "";
  }

  function openDialog(item, button) {
    currentItem = item;
    opener = button;
    var noun = item.object_label.toLowerCase();
    document.getElementById("db-dialog-title").textContent = "Link " + noun + " — " + item.name;
    document.getElementById("db-sync-note").textContent = (item.synchronized ?
      "Linking starts synchronization between the record and " + issue.key + " (" + item.sync_words + "). " : "") +
      "Type to search " + item.brand + "; use ↑ ↓ to choose a result and Enter to link it, or type its id and " +
      "press Link by id.";
    q.value = "";
    setResults([]);
    setHint("");
    linking = false;
    showModal(dialog);
    q.focus();
  }

  function closeDialog() { closeModal(dialog); }

  function setResults(list) {
    results = list;
    hits.innerHTML = "";
    list.forEach(function (hit, index) {
      var li = el("li", {"id": "db-hit-" + index, "role": "option", "aria-selected": "false",
                         "data-testid": "hit", "data-id": hit.id});
      li.appendChild(el("span", {}, hit.title));
      if (hit.subtitle) { li.appendChild(el("span", {"class": "meta"}, hit.subtitle)); }
      li.addEventListener("mousedown", function (e) { e.preventDefault(); });  // keep the focus in the input
      li.addEventListener("click", function () { highlight(index); link(hit.id); });
      hits.appendChild(li);
    });
    q.setAttribute("aria-expanded", list.length ? "true" : "false");
    highlight(-1);
  }

  function highlight(index) {
    active = index;
    Array.prototype.forEach.call(hits.children, function (li, i) {
      li.setAttribute("aria-selected", i === index ? "true" : "false");
    });
    if (index >= 0) {
      q.setAttribute("aria-activedescendant", "db-hit-" + index);
      var node = document.getElementById("db-hit-" + index);
      if (node && node.scrollIntoView) { node.scrollIntoView({block: "nearest"}); }
    } else {
      q.removeAttribute("aria-activedescendant");
    }
  }

  function link(recordId) {
    if (linking) { return; }
    linking = true;
    setHint("Linking " + recordId + "…");
    api("POST", linksUrl, {item_id: currentItem.id, issue_id: issue.id, issue_key: issue.key, record_id: recordId})
      .then(function (created) {
        linking = false;
        if (created.warning) { warnings[created.id] = created.warning; }
        closeDialog();
        say(created.warning ? "Linked, with a warning shown on the record." : "Linked.", created.warning ? "warn" : "ok");
        return load();
      })
      .catch(function (e) { linking = false; setHint(e.message, "error"); });
  }

  function search() {
    var text = q.value.trim();
    var seq = ++searchSeq;
    if (!text) { searching = false; setResults([]); setHint(""); return; }
    searching = true;
    setHint("Searching…");
    api("GET", linksUrl.replace(/links$/, "") + "items/" + currentItem.id + "/search?issue_id=" +
      encodeURIComponent(issue.id) + "&q=" + encodeURIComponent(text))
      .then(function (data) {
        if (seq !== searchSeq) { return; }
        searching = false;
        setResults(data.results);
        if (data.results.length) {
          var n = data.results.length;
          setHint(n + " result" + (n === 1 ? "" : "s") + ". Use ↑ ↓ to choose, Enter to link.");
        } else {
          setHint(data.hint || "Nothing found.", "warn");
        }
      }).catch(function (e) {
        if (seq !== searchSeq) { return; }
        searching = false;
        setResults([]);
        setHint(e.message, "error");
      });
  }

  q.addEventListener("input", function () {
    clearTimeout(searchTimer);
    searchSeq++;  // an answer to what was typed before is no longer wanted
    searching = !!q.value.trim();
    searchTimer = setTimeout(search, 250);
  });

  q.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!results.length) { return; }
      var step = e.key === "ArrowDown" ? 1 : -1;
      var next = active < 0 ? (step > 0 ? 0 : results.length - 1) : (active + step + results.length) % results.length;
      highlight(next);
    } else if (e.key === "Home" && results.length && active >= 0) {
      e.preventDefault(); highlight(0);
    } else if (e.key === "End" && results.length && active >= 0) {
      e.preventDefault(); highlight(results.length - 1);
    } else if (e.key === "Enter") {
      e.preventDefault();  // Enter never closes the dialog by itself
      if (active >= 0 && results[active]) {
        link(results[active].id);
      } else if (searching) {
        setHint("Still searching… choose a result once they show.");
      } else if (results.length) {
        setHint("Use ↑ ↓ to choose a result first, then press Enter to link it.", "warn");
      } else if (q.value.trim()) {
        setHint("Nothing is chosen to link. Search for another word, or press Link by id to link “" +
          q.value.trim() + "” as an id.", "warn");
      } else {
        setHint("Nothing to link yet: type words from the record or its id.", "warn");
      }
    }
  });

  linkById.addEventListener("click", function () {
    var text = q.value.trim().replace(/^#/, "");
    if (text) { link(text); } else { setHint("Type the record's id first.", "warn"); q.focus(); }
  });
  document.getElementById("db-cancel").addEventListener("click", closeDialog);

  // --- create a helpdesk record from the issue, and link it ------------------------------------------------
  var createDialog = document.getElementById("db-create");
  var createForm = document.getElementById("db-create-form");
  var createFieldsEl = document.getElementById("db-create-fields");
  var createPeopleEl = document.getElementById("db-create-people");
  var createWarningsEl = document.getElementById("db-create-warnings");
  var createErrorEl = document.getElementById("db-create-error");
  var createIntroEl = document.getElementById("db-create-intro");
  var createSubmit = document.getElementById("db-create-submit");
  var createCancel = document.getElementById("db-create-cancel");
  // provider → helpdesk object → the button's words, for the objects this deployment can create
  var createActions = JSON.parse(document.getElementById("db-create-actions").textContent);
  var createItem = null;
  var createFields = [];     // {spec, control, error, initial}: the form's fields
  var createSeq = 0;         // answers for a dialog opened earlier are dropped
  var creating = false;

  function createLabelOf(item) {
    return (createActions[item.provider] || {})[item.object] || "";
  }

  function createsUrl(item) { return linksUrl.replace(/links$/, "") + "items/" + item.id + "/records"; }

  function setCreateError(message) {
    createErrorEl.className = message ? "db-error" : "";
    createErrorEl.textContent = message || "";
  }

  function setCreateBusy(busy, label) {
    creating = busy;
    createForm.setAttribute("aria-busy", busy ? "true" : "false");
    createSubmit.disabled = busy;
    createCancel.disabled = busy;
    createSubmit.textContent = label;
  }

  function openCreate(item, label, button) {
    var seq = ++createSeq;
    createItem = item;
    opener = button;
    createFields = [];
    createFieldsEl.innerHTML = "";
    createPeopleEl.innerHTML = "";
    createWarningsEl.innerHTML = "";
    setCreateError("");
    document.getElementById("db-create-title").textContent = label + " — " + item.name;
    createIntroEl.textContent = "Reading " + issue.key + "…";
    createForm.hidden = true;
    createSubmit.hidden = true;
    setCreateBusy(false, "Create");
    showModal(createDialog);
    createCancel.focus();
    api("GET", createsUrl(item) + "/preview?issue_id=" + encodeURIComponent(issue.id)).then(function (preview) {
      if (seq !== createSeq) { return; }
      createIntroEl.textContent = "Filled in from " + issue.key + " through " + item.name + "'s mappings; change " +
        "what you need. Create makes the record in " + preview.brand + " and links it to " + issue.key + ".";
      buildCreateForm(preview);
      createForm.hidden = false;
      createSubmit.hidden = false;
      var first = createFields.length ? createFields[0].control : createSubmit;
      first.focus();
    }).catch(function (e) {
      if (seq !== createSeq) { return; }
      createIntroEl.textContent = "";
      setCreateError(e.message);
    });
  }

  function joined(value) {
    if (value === null || value === undefined) { return ""; }
    return Array.isArray(value) ? value.join(", ") : String(value);
  }

  function controlFor(spec, id) {
    var options = spec.options || [];
    var control;
    if (options.length) {
      var many = spec.type === "multiselect";
      control = el("select", many ? {"multiple": ""} : {});
      if (!many) { control.appendChild(el("option", {"value": ""}, "—")); }
      var chosen = (Array.isArray(spec.value) ? spec.value : [spec.value]).filter(function (v) {
        return v !== null && v !== undefined && v !== "";
      }).map(String);
      var known = options.map(function (o) { return String(o.value); });
      chosen.forEach(function (v) {  // a value the helpdesk no longer lists is kept, not dropped silently
        if (known.indexOf(v) < 0) { options = options.concat([{"value": v, "label": v}]); }
      });
      options.forEach(function (o) {
        var option = el("option", {"value": String(o.value)}, o.label);
        option.selected = chosen.indexOf(String(o.value)) >= 0;
        control.appendChild(option);
      });
    } else if (spec.type === "textarea") {
      control = el("textarea", {"rows": "6"});
      control.value = joined(spec.value);
    } else if (spec.type === "checkbox") {
      control = el("input", {"type": "checkbox"});
      control.checked = spec.value === true || spec.value === "true";
    } else {
      var kind = spec.type === "number" ? "number" : spec.type === "date" ? "date" : "text";
      control = el("input", {"type": kind, "autocomplete": "off"});
      if (kind === "number") { control.setAttribute("step", "any"); }
      control.value = joined(spec.value);
    }
    control.id = id;
    control.name = spec.id;
    control.setAttribute("data-testid", "create-field");
    control.setAttribute("data-field", spec.id);
    if (spec.required) { control.required = true; }
    return control;
  }

  // The value of a form field as the create call takes it.
  function readControl(spec, control) {
    if (control.type === "checkbox") { return control.checked; }
    if (control.multiple) {
      return Array.prototype.filter.call(control.options, function (o) { return o.selected; })
        .map(function (o) { return o.value; });
    }
    var text = control.value;
    if (["multiselect", "tags", "labels"].indexOf(spec.type) >= 0) {
      return text.split(",").map(function (t) { return t.trim(); }).filter(function (t) { return t; });
    }
    if (spec.type === "number") { return text.trim() === "" ? null : Number(text); }
    if (control.tagName === "SELECT") { return text === "" ? null : text; }
    return control.tagName === "TEXTAREA" ? text : text.trim();
  }

  function buildCreateForm(preview) {
    (preview.fields || []).forEach(function (spec, index) {
      var id = "db-cf-" + index;
      var box = el("div", {"class": "db-field", "data-testid": "create-row", "data-field": spec.id});
      var control = controlFor(spec, id);
      var label = el("label", {"for": id}, spec.label);
      if (spec.required) {
        label.appendChild(el("span", {"class": "db-required", "aria-hidden": "true", "title": "required"}, " *"));
      }
      var described = [];
      var hintText = "";
      if (spec.html) {
        hintText = "Sent with the issue's formatting; if you change it, it is sent as plain text.";
      } else if (["tags", "labels"].indexOf(spec.type) >= 0 || (spec.type === "multiselect" && !control.multiple)) {
        hintText = "Separate values with commas.";
      }
      if (hintText) { described.push(id + "-hint"); }
      var error = el("span", {"class": "field-error", "id": id + "-error", "data-testid": "field-error", "hidden": ""});
      described.push(id + "-error");
      control.setAttribute("aria-describedby", described.join(" "));
      if (control.type === "checkbox") {
        label.className = "db-check";
        label.insertBefore(control, label.firstChild);
        box.appendChild(label);
      } else {
        box.appendChild(label);
        box.appendChild(control);
      }
      if (hintText) { box.appendChild(el("small", {"id": id + "-hint"}, hintText)); }
      box.appendChild(error);
      createFieldsEl.appendChild(box);
      createFields.push({spec: spec, control: control, error: error, initial: JSON.stringify(readControl(spec, control))});
    });
    if (!createFields.length) {
      createFieldsEl.appendChild(el("p", {"class": "meta"}, "No field is filled in from the issue."));
    }
    // who the record is for, as the item's rules found them (the warnings say why when they found no one)
    [["Requester", preview.requester], ["Organization", preview.organization]].forEach(function (pair) {
      var label = (pair[1] || {}).label;
      if (!label) { return; }
      createPeopleEl.appendChild(el("dt", {}, pair[0]));
      createPeopleEl.appendChild(el("dd", {"data-testid": "create-" + pair[0].toLowerCase()}, label));
    });
    (preview.warnings || []).forEach(function (w) {
      createWarningsEl.appendChild(el("li", {"class": "db-warn", "data-testid": "create-warning"}, w));
    });
  }

  // Mark the fields a refusal names (extra.fields: their ids) and say next to each what to do.
  function showFieldErrors(failure) {
    var named = (failure.extra || {}).fields;
    var firstBad = null;
    createFields.forEach(function (f) {
      if (!Array.isArray(named) || named.indexOf(f.spec.id) < 0) { return; }
      f.error.textContent = failure.code === "required_fields_missing" ? f.spec.label + " is required: fill it in." :
        "Not accepted: correct this value (see the message above).";
      f.error.hidden = false;
      f.control.setAttribute("aria-invalid", "true");
      if (!firstBad) { firstBad = f.control; }
    });
    return firstBad;
  }

  function clearFieldErrors() {
    createFields.forEach(function (f) {
      f.error.textContent = "";
      f.error.hidden = true;
      f.control.removeAttribute("aria-invalid");
    });
  }

  createForm.addEventListener("submit", function (e) {
    e.preventDefault();
    if (creating || !createItem) { return; }
    var item = createItem;
    var values = {};
    createFields.forEach(function (f) {  // only what the user changed: the rest is sent as the mappings give it
      var now = readControl(f.spec, f.control);
      if (JSON.stringify(now) !== f.initial) { values[f.spec.id] = now; }
    });
    clearFieldErrors();
    setCreateError("");
    setCreateBusy(true, "Creating…");
    createIntroEl.textContent = "Creating the record in " + item.brand + "…";
    api("POST", createsUrl(item), {issue_id: issue.id, values: values}).then(function (created) {
      setCreateBusy(false, "Create");
      var link = created.link;
      if (created.warnings && created.warnings.length) { warnings[link.id] = created.warnings.join(" "); }
      opener = null;
      closeModal(createDialog);
      say("Created " + link.title + " in " + item.brand + " and linked it to " + issue.key + "." +
        (created.warnings && created.warnings.length ? " See the warning on it." : ""),
        created.warnings && created.warnings.length ? "warn" : "ok");
      return load().then(function () {
        var record = cardsEl.querySelector("[data-link='" + link.id + "']");
        if (record) { record.setAttribute("tabindex", "-1"); record.focus(); }
      });
    }).catch(function (failure) {
      setCreateBusy(false, "Create");
      createIntroEl.textContent = "Create did not finish: see why below, correct what it names and press Create " +
        "again, or Cancel.";
      setCreateError(failure.message);
      var bad = showFieldErrors(failure);
      (bad || createSubmit).focus();
    });
  });

  createCancel.addEventListener("click", function () { closeModal(createDialog); });
  createDialog.addEventListener("cancel", function (e) {
    if (creating) { e.preventDefault(); }  // Escape waits for the helpdesk's answer: the record may be made
  });
  createDialog.addEventListener("close", function () {
    createSeq++;
    if (opener && document.body.contains(opener)) { opener.focus(); }
  });

  render(JSON.parse(document.getElementById("db-initial").textContent));
}());
