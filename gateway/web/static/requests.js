/* TinBao personal-data export: the "print" button (hidden without JavaScript; Ctrl+P works anyway). */
(function () {
  'use strict';
  var button = document.getElementById('export-print');
  if (!button || !window.print) {
    return;
  }
  button.hidden = false;
  button.addEventListener('click', function () {
    window.print();
  });
}());
