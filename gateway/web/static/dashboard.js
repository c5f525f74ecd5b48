/* TinBao dashboard: refreshes the modem card, the queue counts and the lists from
   /api/dashboard every few seconds. Everything that may come from an SMS is set with
   textContent; this file never writes HTML. */
(function () {
  'use strict';

  var root = document.getElementById('dashboard');
  if (!root || !window.fetch) {
    return;
  }
  var url = root.getAttribute('data-refresh-url');
  var seconds = parseInt(root.getAttribute('data-refresh-seconds'), 10) || 5;
  var TONES = ['ok', 'wait', 'bad', 'new', 'plain'];
  var lastLists = {};
  var timer = null;
  var inFlight = false;

  function lookup(data, path) {
    return path.split('.').reduce(function (value, key) {
      return value === null || value === undefined ? undefined : value[key];
    }, data);
  }

  function asText(value) {
    return value === null || value === undefined ? '' : String(value);
  }

  function setTone(element, tone) {
    TONES.forEach(function (name) {
      element.classList.remove('tone-' + name);
    });
    element.classList.add('tone-' + (TONES.indexOf(tone) >= 0 ? tone : 'plain'));
  }

  function applyFields(data) {
    root.querySelectorAll('[data-field]').forEach(function (element) {
      var text = asText(lookup(data, element.getAttribute('data-field')));
      if (element.textContent !== text) {
        element.textContent = text;
      }
      if (element.hasAttribute('data-hide-empty')) {
        element.hidden = text === '';
      }
    });
    root.querySelectorAll('[data-tone-field]').forEach(function (element) {
      setTone(element, lookup(data, element.getAttribute('data-tone-field')));
    });
    root.querySelectorAll('[data-bars-field]').forEach(function (element) {
      var bars = lookup(data, element.getAttribute('data-bars-field'));
      element.setAttribute('data-bars', typeof bars === 'number' ? String(bars) : 'none');
    });
    root.querySelectorAll('[data-alert-when-nonzero]').forEach(function (element) {
      var count = Number(lookup(data, element.getAttribute('data-alert-when-nonzero')));
      element.classList.toggle('is-alert', count > 0);
    });
  }

  function makeCell(row, column) {
    var cell = document.createElement('td');
    var value = asText(row[column.key]);
    cell.className = 'col-' + column.kind;
    cell.setAttribute('data-label', column.label);
    if (column.kind === 'badge') {
      var badge = document.createElement('span');
      badge.className = 'badge';
      setTone(badge, row.tone);
      badge.textContent = value;
      cell.appendChild(badge);
    } else if (column.kind === 'link') {
      var url = asText(row.url);
      if (url.charAt(0) === '/' && url.charAt(1) !== '/') { /* only a path on this gateway */
        var link = document.createElement('a');
        link.setAttribute('href', url);
        link.textContent = value;
        cell.appendChild(link);
      } else {
        cell.textContent = value;
      }
    } else if (column.kind === 'text') {
      var text = document.createElement('span');
      text.className = 'sms-text';
      text.textContent = value;
      cell.appendChild(text);
      if (row.note) {
        var note = document.createElement('span');
        note.className = 'note';
        note.textContent = asText(row.note);
        cell.appendChild(note);
      }
    } else {
      cell.textContent = value;
    }
    return cell;
  }

  function renderList(table, rows) {
    var name = table.getAttribute('data-list');
    var signature = JSON.stringify(rows);
    if (lastLists[name] === signature) {
      return; /* unchanged: keep the officer's text selection and scroll */
    }
    lastLists[name] = signature;
    var columns = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
      return {
        key: th.getAttribute('data-key'),
        kind: th.getAttribute('data-kind'),
        label: th.textContent.trim()
      };
    });
    var body = document.createElement('tbody');
    rows.forEach(function (row) {
      var tr = document.createElement('tr');
      columns.forEach(function (column) {
        tr.appendChild(makeCell(row, column));
      });
      body.appendChild(tr);
    });
    table.replaceChild(body, table.tBodies[0]);
    table.hidden = rows.length === 0;
    var empty = root.querySelector('[data-empty-for="' + name + '"]');
    if (empty) {
      empty.hidden = rows.length > 0;
    }
  }

  function renderAlerts(alerts) {
    var list = document.getElementById('alerts');
    if (!list || !Array.isArray(alerts)) {
      return;
    }
    var signature = JSON.stringify(alerts);
    if (lastLists.alerts === signature) {
      return;
    }
    lastLists.alerts = signature;
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    alerts.forEach(function (alert) {
      var item = document.createElement('li');
      item.className = 'alert-item';
      setTone(item, alert.tone);
      item.setAttribute('data-key', asText(alert.key));
      item.textContent = asText(alert.text);
      if (alert.url) {  // a link the server built (url_for), never from SMS text
        var link = document.createElement('a');
        link.href = asText(alert.url);
        link.textContent = asText(alert.link);
        item.appendChild(document.createTextNode(' '));
        item.appendChild(link);
      }
      list.appendChild(item);
    });
    list.hidden = alerts.length === 0;
  }

  function setOnline(online) {
    var note = document.getElementById('refresh-note');
    var text = document.getElementById('refresh-text');
    if (!note || !text) {
      return;
    }
    note.classList.toggle('is-offline', !online);
    var warning = text.querySelector('.offline-text');
    if (!online && !warning) {
      warning = document.createElement('span');
      warning.className = 'offline-text';
      warning.textContent = root.getAttribute('data-offline-text') || ' · offline';
      text.appendChild(warning);
    } else if (online && warning) {
      text.removeChild(warning);
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, seconds * 1000);
  }

  function refresh() {
    clearTimeout(timer);
    if (inFlight || document.hidden) {
      return; /* the running request reschedules; a hidden page resumes on visibilitychange */
    }
    inFlight = true;
    fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error('HTTP ' + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        applyFields(data);
        renderAlerts(data.alerts);
        root.querySelectorAll('table[data-list]').forEach(function (table) {
          var rows = data[table.getAttribute('data-list')];
          if (Array.isArray(rows)) {
            renderList(table, rows);
          }
        });
        setOnline(true);
      })
      .catch(function () {
        setOnline(false);
      })
      .then(function () {
        inFlight = false;
        schedule();
      });
  }

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) {
      refresh();
    }
  });
  schedule();
})();
