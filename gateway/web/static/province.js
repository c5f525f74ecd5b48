/* The hub's warning editor: as the admin types, the "không dấu" text is made from the accented
   one (until the admin edits it by hand) and both forms' SMS parts are counted by the hub with
   the commune's own counter (preview.json): no second copy of the counting here. Text is only
   ever set with textContent / value. csrf.js adds the CSRF header to every same-origin fetch. */
(function () {
  'use strict';

  function $(id) { return document.getElementById(id); }

  function setText(id, value) {
    var el = $(id);
    if (el) { el.textContent = value === undefined || value === null ? '—' : String(value); }
  }

  function editor(form) {
    var plain = $('khong-dau');
    var auto = $('khong-dau-auto');
    var timer = null;
    var lastMade = plain.value;

    function refresh() {
      var data = new FormData(form);
      data.delete('action');
      fetch(form.getAttribute('data-preview-url'), {
        method: 'POST', body: data, credentials: 'same-origin',
        headers: { 'X-Requested-With': 'fetch', 'Accept': 'application/json' }
      }).then(function (response) {
        return response.ok ? response.json() : null;
      }).then(function (p) {
        if (!p) { return; }
        if (auto.value === '1' && plain.value !== p.khong_dau_suggested) {
          plain.value = p.khong_dau_suggested;
          lastMade = plain.value;
        }
        ['khong_dau', 'accented'].forEach(function (name) {
          setText('parts-' + name, p[name] ? p[name].parts : null);
          setText('chars-' + name, p[name] ? p[name].chars : null);
          setText('text-' + name, p[name] ? p[name].text : '');
        });
        var box = $('editor-problems');
        while (box.firstChild) { box.removeChild(box.firstChild); }
        (p.problems || []).forEach(function (text) {
          var line = document.createElement('p');
          line.textContent = text;
          box.appendChild(line);
        });
        box.hidden = !(p.problems || []).length;
      }).catch(function () { /* offline or logged out: "Xem trước" still works */ });
    }

    function later() {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(refresh, 250);
    }

    plain.addEventListener('input', function () {
      // Typed by hand: kept as the admin wrote it; emptied: made from the accented text again.
      auto.value = plain.value.trim() && plain.value !== lastMade ? '' : '1';
      var note = $('khong-dau-note');
      note.textContent = note.getAttribute(auto.value === '1' ? 'data-auto' : 'data-manual');
    });
    form.addEventListener('input', later);
    refresh();
  }

  document.addEventListener('DOMContentLoaded', function () {
    var form = $('warning-form');
    if (form) { editor(form); }
  });
}());
