/* Deskbridge issue panel. Calls the panel API with a context JWT from AP.context.getToken() when
   Connect's all.js is loaded, or with the page session the panel was rendered with. */
(function () {
  "use strict";
  var root = document.getElementById("db-panel");
  var cardsEl = document.getElementById("db-cards");
  var statusEl = document.getElementById("db-status");
  var dialog = document.getElementById("db-dialog");
  var q = document.getElementById("db-q");
  var hits = document.getElementById("db-hits");
  var hint = document.getElementById("db-hint");
  var issue = {
    id: root.dataset.issueId, key: root.dataset.issueKey,
    projectId: root.dataset.projectId, issueTypeId: root.dataset.issueTypeId
  };
  var currentItem = null;
  var searchTimer = null;

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
      return fetch(url, {method: method, headers: headers, body: body ? JSON.stringify(body) : undefined});
    }).then(function (response) {
      if (response.status === 204) { return null; }
      return response.json().then(function (data) {
        if (response.status === 401 && data.code === "session_expired" && !retried && window.AP && AP.context) {
          useContextToken = true;
          return api(method, url, body, true);
        }
        if (!response.ok) { throw new Error(data.message || ("HTTP " + response.status)); }
        return data;
      });
    });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function say(message, kind) {
    statusEl.className = kind === "error" ? "db-error" : (message ? "db-ok" : "");
    statusEl.textContent = message || "";
  }

  function render(data) {
    cardsEl.innerHTML = "";
    if (data.state === "disconnected") {
      cardsEl.appendChild(el("div", {"class": "db-message info", "data-testid": "disconnected"},
        "No helpdesk is connected for this Jira site. A Jira admin can connect one on the Deskbridge admin page."));
      return;
    }
    if (!data.cards.length) {
      cardsEl.appendChild(el("p", {"class": "meta", "data-testid": "no-cards"},
        "No Deskbridge items apply to this issue's project and type."));
    }
    data.cards.forEach(function (card) {
      var box = el("section", {"class": "card", "data-testid": "card", "data-item": card.item.id});
      box.appendChild(el("h2", {}, card.item.name));
      box.appendChild(el("div", {"class": "meta"}, card.item.object_label + " · " + card.item.mode_label +
        (card.item.paused ? " · paused" : "")));
      card.links.forEach(function (link) {
        var rec = el("div", {"class": "record", "data-testid": "record", "data-record": link.record_id});
        rec.appendChild(el("strong", {}, link.title));
        if (link.sync_stopped_at) {
          rec.appendChild(el("div", {"class": "meta", "data-testid": "sync-stopped"},
            "Closed in the helpdesk: no longer syncing (since " + link.sync_stopped_at.slice(0, 10) + ")"));
        }
        var table = el("table");
        link.fields.forEach(function (f) {
          var tr = el("tr", {"data-field": f.id});
          tr.appendChild(el("th", {}, f.label));
          tr.appendChild(el("td", {}, f.value));
          table.appendChild(tr);
        });
        rec.appendChild(table);
        if (link.url) {
          var open = el("a", {"href": link.url, "target": "_blank", "rel": "noopener", "data-testid": "open"}, "Open in helpdesk");
          rec.appendChild(open);
        }
        var refresh = el("button", {"type": "button", "class": "secondary", "data-testid": "refresh"}, "Refresh");
        refresh.addEventListener("click", function () {
          say("Refreshing…");
          api("POST", root.dataset.linkUrl.replace(/\/$/, "") + "/" + link.id + "/refresh").then(function () {
            say("Refreshed."); return load();
          }).catch(function (e) { say(e.message, "error"); });
        });
        rec.appendChild(refresh);
        if (link.can_unlink) {
          var unlink = el("button", {"type": "button", "class": "danger", "data-testid": "unlink"}, "Unlink");
          unlink.addEventListener("click", function () {
            api("DELETE", root.dataset.linkUrl.replace(/\/$/, "") + "/" + link.id).then(function () {
              say("Unlinked."); return load();
            }).catch(function (e) { say(e.message, "error"); });
          });
          rec.appendChild(unlink);
        } else {
          rec.appendChild(el("span", {"class": "meta"}, " Managed by sync"));
        }
        box.appendChild(rec);
      });
      var linkBtn = el("button", {"type": "button", "data-testid": "link"}, "Link " + card.item.object_label.toLowerCase());
      linkBtn.addEventListener("click", function () { openDialog(card.item); });
      box.appendChild(linkBtn);
      cardsEl.appendChild(box);
    });
  }

  function load() {
    var url = root.dataset.api + "?issue_id=" + encodeURIComponent(issue.id);
    return api("GET", url).then(render).catch(function (e) { say(e.message, "error"); });
  }

  function openDialog(item) {
    currentItem = item;
    document.getElementById("db-dialog-title").textContent = "Link " + item.object_label.toLowerCase() + " — " + item.name;
    document.getElementById("db-sync-note").textContent = item.synchronized ?
      "Linking starts synchronization between the record and " + issue.key + "." : "";
    q.value = ""; hits.innerHTML = ""; hint.textContent = "";
    if (dialog.showModal) { dialog.showModal(); } else { dialog.setAttribute("open", ""); }
    q.focus();
  }

  function closeDialog() { if (dialog.close) { dialog.close(); } else { dialog.removeAttribute("open"); } }

  function link(recordId) {
    api("POST", root.dataset.linkUrl, {item_id: currentItem.id, issue_id: issue.id, issue_key: issue.key, record_id: recordId})
      .then(function () { closeDialog(); say("Linked."); return load(); })
      .catch(function (e) { hint.textContent = e.message; });
  }

  function search() {
    var text = q.value.trim();
    if (!text) { hits.innerHTML = ""; hint.textContent = ""; return; }
    api("GET", root.dataset.linkUrl.replace(/links\/?$/, "") + "items/" + currentItem.id + "/search?issue_id=" +
      encodeURIComponent(issue.id) + "&q=" + encodeURIComponent(text))
      .then(function (data) {
        if (q.value.trim() !== text) { return; }
        hits.innerHTML = "";
        data.results.forEach(function (hit) {
          var li = el("li", {"data-testid": "hit", "data-id": hit.id}, hit.title + (hit.subtitle ? " — " + hit.subtitle : ""));
          li.addEventListener("click", function () { link(hit.id); });
          hits.appendChild(li);
        });
        hint.textContent = data.hint || "";
      }).catch(function (e) { hint.textContent = e.message; });
  }

  q.addEventListener("input", function () { clearTimeout(searchTimer); searchTimer = setTimeout(search, 250); });
  document.getElementById("db-link-id").addEventListener("click", function () {
    if (q.value.trim()) { link(q.value.trim()); } else { hint.textContent = "Type the record id first."; }
  });
  document.getElementById("db-cancel").addEventListener("click", closeDialog);

  render(JSON.parse(document.getElementById("db-initial").textContent));
}());
