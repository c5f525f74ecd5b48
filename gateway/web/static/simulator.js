/* TinBao phone simulator: sends an SMS into the modem emulator and shows the conversation
   as chat bubbles. Message text is set with textContent only; this file never writes HTML. */
(function () {
  'use strict';

  var panel = document.getElementById('simulator');
  if (!panel || !window.fetch || panel.getAttribute('data-enabled') !== '1') {
    return; /* no emulator: the panel only shows a notice */
  }
  var sendUrl = panel.getAttribute('data-send-url');
  var threadUrl = panel.getAttribute('data-thread-url');
  var form = document.getElementById('sim-form');
  var numberInput = document.getElementById('sim-number');
  var textInput = document.getElementById('sim-text');
  var countOut = document.getElementById('sim-count');
  var errorOut = document.getElementById('sim-error');
  var sendButton = document.getElementById('sim-send');
  var thread = document.getElementById('sim-thread');
  var empty = document.getElementById('sim-empty');

  var SLOW_POLL_MS = 4000;
  var FAST_POLL_MS = 1000;
  var FAST_POLL_FOR_MS = 20000;

  /* GSM 03.38 default alphabet and its extension table (extension characters take 2 septets). */
  var GSM_BASIC = '@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5' +
    '\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\u00c6\u00e6\u00df\u00c9' +
    ' !"#\u00a4%&\'()*+,-./0123456789:;<=>?' +
    '\u00a1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7' +
    '\u00bfabcdefghijklmnopqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0';
  var GSM_EXTENDED = '^{}\\[~]|\u20ac\f';

  /* A client-side estimate of how many SMS a text takes: GSM-7 160/153, UCS-2 70/67.
     GSM extension characters take two septets; UCS-2 counts UTF-16 code units. */
  function estimate(text) {
    var septets = 0;
    var gsm = true;
    for (var i = 0; i < text.length; i += 1) {
      var ch = text.charAt(i);
      if (GSM_BASIC.indexOf(ch) >= 0) {
        septets += 1;
      } else if (GSM_EXTENDED.indexOf(ch) >= 0) {
        septets += 2;
      } else {
        gsm = false;
        break;
      }
    }
    if (gsm) {
      return describe(septets, 160, 153, false);
    }
    return describe(text.length, 70, 67, true); /* UTF-16 code units, as UCS-2 counts them */
  }

  function describe(used, single, perPart, unicode) {
    var parts = used <= single ? 1 : Math.ceil(used / perPart);
    return { used: used, parts: parts, capacity: parts === 1 ? single : parts * perPart, unicode: unicode };
  }

  function updateCount() {
    var result = estimate(textInput.value);
    countOut.textContent = window.tinbaoLabel('sim.count', result) +
      (result.unicode ? window.tinbaoLabel('sim.unicode') : '');
    countOut.title = window.tinbaoLabel(result.unicode ? 'sim.title_ucs2' : 'sim.title_gsm7');
    countOut.classList.toggle('is-multi', result.parts > 1);
  }

  function showError(message) {
    errorOut.textContent = message || '';
    errorOut.hidden = !message;
  }

  function bubble(message) {
    var item = document.createElement('li');
    item.className = 'bubble ' + (message.direction === 'in' ? 'bubble-mine' : 'bubble-reply');
    var text = document.createElement('span');
    text.className = 'bubble-text';
    text.textContent = message.text || '';
    item.appendChild(text);
    if (message.note) {
      var note = document.createElement('span');
      note.className = 'note';
      note.textContent = message.note;
      item.appendChild(note);
    }
    var meta = document.createElement('span');
    meta.className = 'bubble-meta';
    meta.textContent = (message.time_display || '') +
      (message.direction === 'out' && message.status_label ? ' · ' + message.status_label : '');
    item.appendChild(meta);
    return item;
  }

  var lastSignature = null;
  var lastNumber = null;

  function render(data) {
    var messages = Array.isArray(data.messages) ? data.messages : [];
    var signature = data.number + '\n' + JSON.stringify(messages);
    if (signature === lastSignature) {
      return;
    }
    var atBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
    var changedNumber = data.number !== lastNumber;
    lastSignature = signature;
    lastNumber = data.number;
    while (thread.firstChild) {
      thread.removeChild(thread.firstChild);
    }
    messages.forEach(function (message) {
      thread.appendChild(bubble(message));
    });
    empty.hidden = messages.length > 0;
    if (atBottom || changedNumber) {
      thread.scrollTop = thread.scrollHeight;
    }
  }

  var pollTimer = null;
  var fastUntil = 0;
  var polling = false;

  function schedulePoll() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, Date.now() < fastUntil ? FAST_POLL_MS : SLOW_POLL_MS);
  }

  function poll() {
    clearTimeout(pollTimer);
    if (polling || document.hidden) {
      return;
    }
    var number = numberInput.value.trim();
    if (!number) {
      schedulePoll();
      return;
    }
    polling = true;
    fetch(threadUrl + '?number=' + encodeURIComponent(number), {
      credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' }
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data) {
          render(data);
        }
      })
      .catch(function () { /* the dashboard shows lost connections; try again later */ })
      .then(function () {
        polling = false;
        schedulePoll();
      });
  }

  function send(event) {
    event.preventDefault();
    if (sendButton.disabled) {
      return;
    }
    showError('');
    sendButton.disabled = true;
    fetch(sendUrl, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ number: numberInput.value, text: textInput.value })
    })
      .then(function (response) {
        return response.json()
          .catch(function () { return {}; })
          .then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (result) {
        if (!result.ok) {
          showError(result.body.error || window.tinbaoLabel('sim.send_failed'));
          return;
        }
        textInput.value = '';
        updateCount();
        fastUntil = Date.now() + FAST_POLL_FOR_MS;
        poll();
      })
      .catch(function () {
        showError(window.tinbaoLabel('sim.offline'));
      })
      .then(function () {
        sendButton.disabled = false;
        textInput.focus();
      });
  }

  textInput.addEventListener('input', updateCount);
  updateCount();
  form.addEventListener('submit', send);
  textInput.addEventListener('keydown', function (event) {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      send(event);
    }
  });
  var resetForm = document.querySelector('.phone-reset');
  numberInput.addEventListener('change', function () {
    lastSignature = null;
    if (resetForm) { /* the dry run's "start again" is for the number shown */
      resetForm.querySelector('input[name="number"]').value = numberInput.value;
    }
    poll();
  });
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) {
      poll();
    }
  });
  thread.scrollTop = thread.scrollHeight;
  poll();
})();
