/* TinBao poster: the "print" button (hidden without JavaScript; Ctrl+P works anyway). */
(function () {
  'use strict';
  var button = document.getElementById('poster-print');
  if (!button || !window.print) {
    return;
  }
  button.hidden = false;
  button.addEventListener('click', function () {
    window.print();
  });
}());
