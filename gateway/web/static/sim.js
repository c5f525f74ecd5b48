/* The SIM page: "Hiện số" of a missed call asks the gateway (audited) and shows the number
   with textContent. No HTML is ever written from what the server sends. */
(function () {
  'use strict';
  var token = document.querySelector('meta[name="csrf-token"]');
  document.querySelectorAll('[data-reveal-call]').forEach(function (button) {
    button.addEventListener('click', function () {
      var id = button.getAttribute('data-reveal-call');
      fetch(button.getAttribute('data-url'), {
        method: 'POST', credentials: 'same-origin',
        headers: { 'X-CSRFToken': token ? token.getAttribute('content') : '', 'X-Requested-With': 'fetch' }
      }).then(function (response) {
        if (!response.ok) { throw new Error('HTTP ' + response.status); }
        return response.json();
      }).then(function (data) {
        var shown = document.querySelector('[data-number-for="' + id + '"]');
        if (shown && typeof data.number === 'string') { shown.textContent = data.number; button.hidden = true; }
      }).catch(function () { button.disabled = false; });
      button.disabled = true;
    });
  });
}());
