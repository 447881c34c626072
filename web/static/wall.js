/* The data wall refreshes itself: every data-refresh seconds it fetches the page again and
   swaps in the new #wall, so the screen never flashes white and a network outage leaves the
   last figures up (marked stale) instead of an error page. No inline script: CSP allows
   only script-src 'self'. Plain ES2017 for old display browsers. */
(function () {
  "use strict";
  var wall = document.getElementById("wall");
  if (!wall || !window.fetch || !window.DOMParser) {
    return;
  }
  var seconds = parseInt(wall.getAttribute("data-refresh"), 10) || 60;

  function schedule() {
    window.setTimeout(refresh, seconds * 1000);
  }

  function refresh() {
    fetch(window.location.href, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("wall");
        var current = document.getElementById("wall");
        if (!next || !current) {
          throw new Error("no #wall in the answer");
        }
        current.parentNode.replaceChild(document.importNode(next, true), current);
      })
      .catch(function () {
        var current = document.getElementById("wall");
        if (current) {
          current.className += current.className.indexOf("stale") < 0 ? " stale" : "";
        }
      })
      .then(schedule);
  }

  schedule();
})();
