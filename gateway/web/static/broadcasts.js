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

  /* -- live progress ------------------------------------------------------------------------ */
  /* The list and one broadcast ask progress.json every few seconds while a broadcast is
     scheduled, running or paused, and put its status, its latest run's counts and (on the
     detail page) the exact text sent in place. Nothing is rebuilt from HTML strings. */
  var FAST_MS = 2000;
  var SLOW_MS = 5000;
  var OFFLINE_MS = 15000;

  function showProgress(id, p) {
    document.querySelectorAll('.run-wrap[data-broadcast="' + id + '"]').forEach(function (el) { el.hidden = false; });
    document.querySelectorAll('.not-sent[data-broadcast="' + id + '"]').forEach(function (el) { el.hidden = true; });
    document.querySelectorAll('.run-progress[data-broadcast="' + id + '"]').forEach(function (el) {
      var bar = el.querySelector('progress');
      bar.max = p.total || 1;
      bar.value = p.done;
      var text = window.tinbaoLabel('bc.people', p, p.total);
      if (p.failed) { text += window.tinbaoLabel('bc.failed', { n: p.failed }); }
      if (p.unknown) { text += window.tinbaoLabel('bc.unknown', { n: p.unknown }); }
      el.querySelector('.progress-text').textContent = text;
    });
  }

  function showDetail(item) {
    var status = $('broadcast-status');
    if (status) {
      status.textContent = item.state.label;
      status.className = 'badge badge-large tone-' + item.state.tone;
    }
    if (!item.run || !$('live-run')) { return; }
    $('live-run-none').hidden = true;
    $('live-run-progress').hidden = false;
    var runStatus = $('live-run-status');
    runStatus.textContent = item.run.state.label;
    runStatus.className = 'badge tone-' + item.run.state.tone + ' run-status';
    if (item.run.text) {
      setText('broadcast-text', item.run.text);
      var title = $('text-title');
      title.textContent = title.getAttribute('data-sent-title');
    }
  }

  function progress(holder) {
    var url = holder.getAttribute('data-progress-url');
    var wanted = (holder.getAttribute('data-broadcasts') || '').split(',').filter(function (x) { return x; });
    function tick() {
      if (!wanted.length) { return; }
      fetch(url + '?ids=' + wanted.join(','), { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { setTimeout(tick, OFFLINE_MS); return; }
          var running = false;
          var waiting = false;
          Object.keys(data).forEach(function (id) {
            var item = data[id];
            if (item.status === 'running' || item.status === 'scheduled') { running = true; }
            if (item.status === 'paused') { waiting = true; }
            if (item.progress) { showProgress(id, item.progress); }
            document.querySelectorAll('tr[data-broadcast="' + id + '"] .broadcast-status').forEach(function (el) {
              el.textContent = item.state.label;
              el.className = 'badge tone-' + item.state.tone + ' broadcast-status';
            });
            if (holder.id === 'live-run') { showDetail(item); }
          });
          if (running || waiting) { setTimeout(tick, running ? FAST_MS : SLOW_MS); }
        })
        .catch(function () { setTimeout(tick, OFFLINE_MS); });
    }
    setTimeout(tick, FAST_MS);
  }

  document.addEventListener('DOMContentLoaded', function () {
    var form = $('compose-form');
    if (form) { compose(form); }
    var holder = $('broadcast-list') || $('live-run');
    if (holder) { progress(holder); }
    document.querySelectorAll('form[data-confirm]').forEach(function (f) {
      f.addEventListener('submit', function (event) {
        if (!window.confirm(f.getAttribute('data-confirm'))) { event.preventDefault(); }
      });
    });
  });
}());
