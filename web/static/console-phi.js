/* Harvest form: as the harvest time is typed, ask the server whether it falls inside a
 * pesticide's pre-harvest interval and show the warning before anything is submitted.
 * Without JavaScript the server shows the same warning on a check step. ES2017. */
(function () {
  'use strict';
  var form = document.getElementById('event-form');
  var live = document.getElementById('phi-live');
  if (!form || !live || !form.getAttribute('data-phi-url') || !window.fetch) {
    return;
  }
  var input = form.querySelector('[name="event_time"]');
  if (!input) {
    return;
  }
  var url = form.getAttribute('data-phi-url');
  var asked = 0;

  function show(warnings) {
    while (live.firstChild) {
      live.removeChild(live.firstChild);
    }
    warnings.forEach(function (text) {
      var p = document.createElement('p');
      p.className = 'phi-warning';
      p.textContent = text;
      live.appendChild(p);
    });
    live.hidden = warnings.length === 0;
  }

  function check() {
    var mine = ++asked;
    fetch(url + '?at=' + encodeURIComponent(input.value), {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (data) {
      if (data && mine === asked && Array.isArray(data.warnings)) {
        show(data.warnings);
      }
    }).catch(function () {});
  }

  input.addEventListener('change', check);
  input.addEventListener('input', check);
  check();
})();
