/* TinBao broadcasts pages: the compose form (library picker, which schedule fields show, a
   live preview of the SMS and its cost, counted by the gateway itself) and the progress bars,
   refreshed while a broadcast runs. Text is only ever set with textContent. csrf.js adds the
   CSRF header to every same-origin fetch. */
(function () {
  'use strict';

  function $(id) { return document.getElementById(id); }

  function setText(id, value) {
    var el = $(id);
    if (el) { el.textContent = value === undefined || value === null ? '—' : String(value); }
  }

  /* -- compose ------------------------------------------------------------------------------ */
  function compose(form) {
    var warning = $('warning');
    var title = $('title');
    var body = $('body');
    var timer = null;
    var lastLibraryText = '';

    function showScheduleFields() {
      var chosen = form.querySelector('input[name="schedule"]:checked');
      var value = chosen ? chosen.value : 'now';
      form.querySelectorAll('[data-for]').forEach(function (field) {
        var wanted = field.getAttribute('data-for').split(' ');
        field.hidden = wanted.indexOf(value) < 0;
      });
    }

    function refresh() {
      if (!body.value.trim()) { return; }
      var data = new FormData(form);
      data.delete('action');
      fetch(form.getAttribute('data-preview-url'), {
        method: 'POST', body: data, credentials: 'same-origin',
        headers: { 'X-Requested-With': 'fetch', 'Accept': 'application/json' }
      }).then(function (response) {
        return response.ok ? response.json() : null;
      }).then(function (p) {
        if (!p || !p.khong_dau) { return; }
        setText('preview-audience', p.audience);
        ['khong_dau', 'accented'].forEach(function (form_) {
          setText('parts-' + form_, p[form_].parts);
          setText('total-' + form_, p[form_].total_parts);
          setText('text-' + form_, p[form_].text);
        });
      }).catch(function () { /* offline or logged out: the "Xem trước" button still works */ });
    }

    function later() {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(refresh, 300);
    }

    warning.addEventListener('change', function () {
      var option = warning.options[warning.selectedIndex];
      var text = option.getAttribute('data-body');
      if (text && (!body.value.trim() || body.value === lastLibraryText)) {
        body.value = text;
        title.value = option.getAttribute('data-title') || title.value;
        lastLibraryText = text;
      } else if (text && window.confirm(form.getAttribute('data-replace') || window.tinbaoLabel('bc.replace'))) {
        body.value = text;
        title.value = option.getAttribute('data-title') || title.value;
        lastLibraryText = text;
      }
      later();
    });
    form.addEventListener('input', later);
    form.addEventListener('change', function () { showScheduleFields(); later(); });
    showScheduleFields();
    refresh();
  }

  /* -- progress bars ------------------------------------------------------------------------ */
  function progress(table) {
    var url = table.getAttribute('data-progress-url');
    function ids() {
      var found = {};
      document.querySelectorAll('.run-progress[data-broadcast]').forEach(function (el) {
        var id = el.getAttribute('data-broadcast');
        if (id) { found[id] = true; }
      });
      return Object.keys(found);
    }
    function tick() {
      var wanted = ids();
      if (!wanted.length) { return; }
      fetch(url + '?ids=' + wanted.join(','), { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          var live = false;
          Object.keys(data).forEach(function (id) {
            var item = data[id];
            var p = item.progress;
            if (item.status === 'running' || item.status === 'scheduled') { live = true; }
            document.querySelectorAll('.run-progress[data-broadcast="' + id + '"]').forEach(function (el) {
              if (!p) { return; }
              var bar = el.querySelector('progress');
              bar.max = p.total || 1;
              bar.value = p.done;
              var text = window.tinbaoLabel('bc.people', p);
              if (p.failed) { text += window.tinbaoLabel('bc.failed', { n: p.failed }); }
              if (p.unknown) { text += window.tinbaoLabel('bc.unknown', { n: p.unknown }); }
              el.querySelector('.progress-text').textContent = text;
            });
            document.querySelectorAll('tr[data-broadcast="' + id + '"] .broadcast-status').forEach(function (el) {
              el.textContent = item.state.label;
              el.className = 'badge tone-' + item.state.tone + ' broadcast-status';
            });
          });
          if (live) { setTimeout(tick, 3000); }
        })
        .catch(function () { setTimeout(tick, 15000); });
    }
    setTimeout(tick, 3000);
  }

  document.addEventListener('DOMContentLoaded', function () {
    var form = $('compose-form');
    if (form) { compose(form); }
    var table = $('broadcast-list') || $('runs');
    if (table) { progress(table); }
    document.querySelectorAll('form[data-confirm]').forEach(function (f) {
      f.addEventListener('submit', function (event) {
        if (!window.confirm(f.getAttribute('data-confirm'))) { event.preventDefault(); }
      });
    });
  });
}());
