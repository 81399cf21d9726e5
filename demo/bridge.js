/* The demo's stand-in for Atlassian Connect's all.js (https://connect-cdn.atl-paas.net/all.js), served by the
   demo's simulated Jira site. The demo settings point the app's pages at it (CONNECT_ALL_JS_URL).

   As the real all.js does, it talks to the Jira page around the iframe with postMessage: the shell page
   (demo/shell.py) answers AP.context.getToken() with a context JWT the simulated site signs for the user
   viewing the page, and sizes the iframe to its content. Only what Deskbridge's pages use is implemented. */
(function () {
  "use strict";
  // The demo's simulated Jira sites (filled in by the shell); the one that framed us is our parent, as
  // location.ancestorOrigins (or, where missing, the first page's referrer) says.
  var JIRA_ORIGINS = __JIRA_ORIGINS__;
  var framer = (window.location.ancestorOrigins && window.location.ancestorOrigins[0]) ||
    (document.referrer && new URL(document.referrer).origin);
  var JIRA_ORIGIN = JIRA_ORIGINS.indexOf(framer) >= 0 ? framer : JIRA_ORIGINS[0];
  var script = document.currentScript;
  var pending = {};
  var sequence = 0;

  function call(method, args) {
    return new Promise(function (resolve, reject) {
      var id = "ap-" + (++sequence);
      pending[id] = {resolve: resolve, reject: reject};
      window.parent.postMessage({deskbridgeDemoAP: 1, id: id, method: method, args: args || []}, JIRA_ORIGIN);
    });
  }

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (event.origin !== JIRA_ORIGIN || event.source !== window.parent || !data || !data.deskbridgeDemoAP) { return; }
    var waiting = pending[data.id];
    if (!waiting) { return; }
    delete pending[data.id];
    if (data.error) { waiting.reject(new Error(data.error)); } else { waiting.resolve(data.result); }
  });

  function contentHeight() {
    return Math.ceil(Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0));
  }

  window.AP = {
    resize: function (width, height) { call("resize", [width || "100%", height || contentHeight()]); },
    sizeToParent: function () { call("sizeToParent", []); },
    context: {
      // getToken(callback) calls back with the token; without a callback it returns a Promise (as all.js).
      getToken: function (callback) {
        var token = call("context.getToken", []);
        if (typeof callback === "function") {
          token.then(function (value) { callback(value); });
          return undefined;
        }
        return token;
      }
    }
  };

  // Like all.js: the iframe follows its content's height.
  var last = 0;
  function follow() {
    var height = contentHeight();
    if (height !== last) { last = height; window.AP.resize("100%", height); }
  }
  if (window.ResizeObserver) {
    new ResizeObserver(follow).observe(document.documentElement);
  }
  window.addEventListener("load", follow);
  follow();

  var options = (script && script.getAttribute("data-options")) || "";
  options.split(";").forEach(function (pair) {
    var kv = pair.split(":");
    if (kv[0].trim() === "sizeToParent" && (kv[1] || "").trim() === "true") { window.AP.sizeToParent(); }
  });
}());
