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
        if (!response.ok) { throw new Error(data.message || ("HTTP " + response.status + ". Try again shortly.")); }
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

    var actions = el("div", {"class": "db-actions"});
    if (link.url) {
      actions.appendChild(el("a", {"href": link.url, "target": "_blank", "rel": "noopener", "data-testid": "open",
                                   "aria-label": "Open in " + item.brand + ": " + link.title + " (new tab)"},
                             "Open in " + item.brand));
    }
    if (!item.read_only) {
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
      if (link.can_unlink) {
        var unlink = el("button", {"type": "button", "class": "subtle small", "data-testid": "unlink",
                                   "aria-haspopup": "dialog", "aria-label": "Unlink " + link.title}, "Unlink");
        unlink.addEventListener("click", function () { askUnlink(item, link, unlink); });
        actions.appendChild(unlink);
      }
    }
    if (!link.can_unlink) {
      actions.appendChild(el("span", {"class": "meta"}, "Managed by sync"));
    }
    rec.appendChild(actions);
    return rec;
  }

  function load() {
    var url = root.dataset.api + "?issue_id=" + encodeURIComponent(issue.id);
    return api("GET", url).then(render).catch(function (e) { say(e.message, "error"); });
  }

  // --- unlink, after a confirmation ------------------------------------------------------------------
  function askUnlink(item, link, button) {
    pendingUnlink = link;
    opener = button;
    document.getElementById("db-confirm-title").textContent = "Unlink " + link.title + "?";
    document.getElementById("db-confirm-text").textContent =
      "It is no longer shown on " + issue.key + (item.synchronized ? " and stops syncing" : "") + ". Nothing is " +
      "changed or deleted in " + item.brand + "; you can link it again later.";
    showModal(confirmDialog);
    document.getElementById("db-confirm-cancel").focus();
  }

  document.getElementById("db-confirm-unlink").addEventListener("click", function () {
    var link = pendingUnlink;
    if (!link) { return; }
    closeModal(confirmDialog);
    say("Unlinking…", "info");
    api("DELETE", linksUrl + "/" + link.id).then(function () {
      pendingUnlink = null;
      say("Unlinked."); return load();
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

  render(JSON.parse(document.getElementById("db-initial").textContent));
}());
