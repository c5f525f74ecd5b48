/* TinBao tip page: a live SMS part count for the reply (the same rules as
   gateway/sms/segments.py; the gateway counts again when it sends) and "Hiện số" without
   leaving the page. Text is only ever set with textContent. */
(function () {
  'use strict';

  var BASIC = '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
  var EXTENSION = '\f^{}\\[~]|€';
  /* gateway/sms/text.py: letters NFD leaves alone, and typography with GSM-7 look-alikes. */
  var LETTERS = { 'đ': 'd', 'Đ': 'D', 'ð': 'd', 'Ð': 'D' };
  var TYPOGRAPHY = {
    '\u2018': "'", '\u2019': "'", '\u201a': "'", '\u201b': "'", '\u2032': "'", '\u00b4': "'",
    '`': "'", '\u201c': '"', '\u201d': '"', '\u201e': '"', '\u201f': '"', '\u2033': '"',
    '\u00ab': '"', '\u00bb': '"', '\u2010': '-', '\u2011': '-', '\u2012': '-', '\u2013': '-',
    '\u2014': '-', '\u2015': '-', '\u2212': '-', '\u2026': '...', '\u2022': '-', '\u00b7': '-',
    '\u2023': '-', '\u25cf': '-', '\t': ' ', '\u00a0': ' ', '\u2007': ' ', '\u202f': ' ',
    '\u2002': ' ', '\u2003': ' ', '\u2009': ' ', '\u200a': ' ', '\u3000': ' ', '\u200b': '',
    '\u00ad': '', '\ufeff': '', '\u200e': '', '\u200f': '', '\u00d7': 'x'
  };

  function khongDau(text) {
    var out = '';
    var decomposed = text.normalize('NFD');
    for (var i = 0; i < decomposed.length; i++) {
      var ch = decomposed[i];
      var code = ch.charCodeAt(0);
      if (code >= 0x300 && code < 0x370) {
        continue;
      }
      if (Object.prototype.hasOwnProperty.call(LETTERS, ch)) {
        out += LETTERS[ch];
      } else if (Object.prototype.hasOwnProperty.call(TYPOGRAPHY, ch)) {
        out += TYPOGRAPHY[ch];
      } else {
        out += ch;
      }
    }
    return out.normalize('NFC');
  }

  function isGsm7(chars) {
    return chars.every(function (ch) {
      return BASIC.indexOf(ch) >= 0 || EXTENSION.indexOf(ch) >= 0;
    });
  }

  /* Greedy split where some characters cost two units, as segments._split does. */
  function countParts(units, single, part) {
    var total = units.reduce(function (sum, cost) { return sum + cost; }, 0);
    if (total <= single) {
      return { parts: 1, units: total };
    }
    var parts = 1;
    var used = 0;
    units.forEach(function (cost) {
      if (used + cost > part) {
        parts += 1;
        used = 0;
      }
      used += cost;
    });
    return { parts: parts, units: total };
  }

  function plan(text) {
    var chars = Array.from(text); /* code points: an emoji is one character */
    if (isGsm7(chars)) {
      var gsm = countParts(chars.map(function (ch) { return EXTENSION.indexOf(ch) >= 0 ? 2 : 1; }), 160, 153);
      gsm.encoding = 'GSM-7';
      return gsm;
    }
    var ucs = countParts(chars.map(function (ch) { return ch.length; }), 70, 67);
    ucs.encoding = 'Unicode';
    return ucs;
  }

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  function setupCounter() {
    var form = document.getElementById('reply-form');
    var area = document.getElementById('reply-text');
    var box = document.getElementById('reply-khong-dau');
    var out = document.getElementById('reply-count');
    var preview = document.getElementById('reply-preview');
    if (!form || !area || !box || !out) {
      return;
    }
    var maxParts = parseInt(out.getAttribute('data-max-parts'), 10) || 10;
    function update() {
      var text = area.value.replace(/\r\n/g, '\n').trim();
      var body = box.checked ? khongDau(text) : text;
      var cost = plan(body);
      var chars = Array.from(body).length;
      /* The server gave the wording for one character and for more (plural forms). */
      var template = chars === 1 && out.hasAttribute('data-template-one')
        ? out.getAttribute('data-template-one') : out.getAttribute('data-template');
      var line = fill(template, {
        chars: chars, parts: text ? cost.parts : 0, encoding: cost.encoding
      });
      if (cost.parts > maxParts) {
        line += ' · ' + fill(out.getAttribute('data-too-long'), { max: maxParts });
      }
      out.textContent = line;
      out.classList.toggle('is-over', cost.parts > maxParts);
      out.setAttribute('data-parts', String(text ? cost.parts : 0));
      if (preview) {
        preview.hidden = !(box.checked && text);
        preview.textContent = box.checked ? body : '';
      }
    }
    area.addEventListener('input', update);
    box.addEventListener('change', update);
    update();
  }

  function setupReveal() {
    var form = document.getElementById('reveal-form');
    var number = document.getElementById('tipster-number');
    var note = document.getElementById('number-note');
    if (!form || !number || !window.fetch || !window.FormData) {
      return;
    }
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      fetch(form.action, {
        method: 'POST',
        body: new FormData(form),
        credentials: 'same-origin',
        headers: { 'X-Requested-With': 'fetch', Accept: 'application/json' }
      }).then(function (response) {
        if (!response.ok) {
          throw new Error('HTTP ' + response.status);
        }
        return response.json();
      }).then(function (data) {
        number.textContent = String(data.number || '');
        form.hidden = true;
        if (note) {
          note.hidden = false;
        }
      }).catch(function () {
        form.submit(); /* fall back to the plain form: the page comes back with the number */
      });
    });
  }

  /* The list's filters: on a phone a sheet from the bottom, folded until "Bộ lọc" is tapped. */
  function setupFilterSheet() {
    var sheet = document.getElementById('tip-filters');
    if (!sheet || !window.matchMedia) {
      return;
    }
    var phone = window.matchMedia('(max-width: 699px)');
    var close = sheet.querySelector('.filter-close');
    function fit() {
      sheet.classList.toggle('is-sheet', phone.matches);
      sheet.open = !phone.matches;
      if (close) { close.hidden = !phone.matches; }
    }
    if (close) {
      close.addEventListener('click', function () { sheet.open = false; });
    }
    if (phone.addEventListener) {
      phone.addEventListener('change', fit);
    }
    fit();
  }

  setupCounter();
  setupReveal();
  setupFilterSheet();
})();
