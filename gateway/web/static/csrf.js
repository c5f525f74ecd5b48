/* TinBao: every same-origin fetch that changes something carries the page's CSRF token
   (from <meta name="csrf-token">) in the X-CSRFToken header, so other scripts need no change.
   Loaded first, in <head>, by base.html. */
(function () {
  'use strict';

  var original = window.fetch;
  if (!original) {
    return;
  }
  var SAFE = { GET: true, HEAD: true, OPTIONS: true, TRACE: true };

  function token() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }

  function sameOrigin(url) {
    try {
      return new URL(url, window.location.href).origin === window.location.origin;
    } catch (error) {
      return false;
    }
  }

  window.fetch = function (input, init) {
    var url = typeof input === 'string' ? input : (input && input.url) || String(input);
    var method = ((init && init.method) || (input && input.method) || 'GET').toUpperCase();
    if (sameOrigin(url)) {
      init = Object.assign({}, init);
      var headers = new Headers(init.headers || (typeof input !== 'string' && input.headers) || {});
      if (!SAFE[method] && !headers.has('X-CSRFToken')) {
        headers.set('X-CSRFToken', token());
      }
      if (!headers.has('X-Requested-With')) {
        headers.set('X-Requested-With', 'fetch'); /* errors come back as JSON, not pages */
      }
      init.headers = headers;
    }
    return original.call(window, input, init);
  };
})();
