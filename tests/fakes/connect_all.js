/* A fake of Atlassian Connect's all.js for browser tests, served in place of
   https://connect-cdn.atl-paas.net/all.js by tests/fakes/connect_bridge.py.

   The real all.js talks to the Jira page around the iframe with postMessage; here that host is the test
   process, reached through the Playwright binding window.__deskbridgeConnectHost(method, args), which
   answers as Jira would (AP.context.getToken → a context JWT Jira signed for the user viewing the page).
   Only what Deskbridge's pages use is implemented: calling anything else throws, so a page that starts
   using more of the API fails loudly instead of silently doing nothing. */
(function () {
  "use strict";
  var host = window.__deskbridgeConnectHost;
  if (typeof host !== "function") {
    throw new Error("fake all.js: this frame has no Connect host (tests/fakes/connect_bridge.py)");
  }
  var script = document.currentScript;

  function call(method, args) {
    return host(method, Array.prototype.slice.call(args || []));
  }

  window.AP = {
    // Layout calls only tell Jira how tall the iframe should be: recorded by the host, nothing to answer.
    resize: function () { call("resize", arguments); },
    sizeToParent: function () { call("sizeToParent", arguments); },
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

  // all.js reads options from its own <script data-options="sizeToParent:true">.
  var options = (script && script.getAttribute("data-options")) || "";
  options.split(";").forEach(function (pair) {
    var kv = pair.split(":");
    if (kv[0].trim() === "sizeToParent" && (kv[1] || "").trim() === "true") { window.AP.sizeToParent(); }
  });
}());
