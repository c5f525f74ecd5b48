/* TinBao menus editor: live SMS counts and "không dấu" previews, adding, moving and removing
   menu items and contacts, and "Kiểm tra" (the server checks without saving).
   Without this file the form still works: every field is posted and the server counts again.
   Text is only ever set with textContent; this file never writes HTML from data. */
(function () {
  'use strict';

  var form = document.getElementById('menu-form');
  if (!form) {
    return;
  }
  var editable = !form.querySelector('fieldset.menu-all').disabled;
  var khongDauKinds = (form.getAttribute('data-khong-dau-kinds') || '').split(',');
  var reference = form.getAttribute('data-reference') || 'CL-0042';
  function readJson(id) {
    try {
      return JSON.parse(document.getElementById(id).textContent || '{}');
    } catch (e) {
      return {};
    }
  }
  var baseContacts = readJson('menu-contacts');
  var strings = readJson('menu-strings');

  /* A sentence of the page's language with {name} filled in. */
  function say(key, values) {
    return (strings[key] || key).replace(/\{(\w+)\}/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  /* -- counting, as gateway/sms/segments.py does ------------------------------------------ */

  var GSM_BASIC = '@\u00a3$\u00a5\u00e8\u00e9\u00f9\u00ec\u00f2\u00c7\n\u00d8\u00f8\r\u00c5\u00e5' +
    '\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e\u00c6\u00e6\u00df\u00c9' +
    ' !"#\u00a4%&\'()*+,-./0123456789:;<=>?' +
    '\u00a1ABCDEFGHIJKLMNOPQRSTUVWXYZ\u00c4\u00d6\u00d1\u00dc\u00a7' +
    '\u00bfabcdefghijklmnopqrstuvwxyz\u00e4\u00f6\u00f1\u00fc\u00e0';
  var GSM_EXTENDED = '^{}\\[~]|\u20ac\f';

  /* gateway/sms/text.py khong_dau: marks removed, đ→d, typography to GSM look-alikes. */
  var TYPOGRAPHY = {
    '\u2018': "'", '\u2019': "'", '\u201a': "'", '\u201b': "'", '\u2032': "'", '\u00b4': "'", '`': "'",
    '\u201c': '"', '\u201d': '"', '\u201e': '"', '\u201f': '"', '\u2033': '"', '\u00ab': '"', '\u00bb': '"',
    '\u2010': '-', '\u2011': '-', '\u2012': '-', '\u2013': '-', '\u2014': '-', '\u2015': '-', '\u2212': '-',
    '\u2026': '...', '\u2022': '-', '\u00b7': '-', '\u2023': '-', '\u25cf': '-',
    '\t': ' ', '\u00a0': ' ', '\u2007': ' ', '\u202f': ' ', '\u2002': ' ', '\u2003': ' ',
    '\u2009': ' ', '\u200a': ' ', '\u3000': ' ',
    '\u200b': '', '\u00ad': '', '\ufeff': '', '\u200e': '', '\u200f': '', '\u00d7': 'x',
    '\u0111': 'd', '\u0110': 'D', '\u00f0': 'd', '\u00d0': 'D'
  };

  function khongDau(text) {
    var stripped = text.normalize('NFD').replace(/[\u0300-\u036f]/g, '');
    var out = '';
    for (var i = 0; i < stripped.length; i += 1) {
      var ch = stripped.charAt(i);
      out += Object.prototype.hasOwnProperty.call(TYPOGRAPHY, ch) ? TYPOGRAPHY[ch] : ch;
    }
    return out.normalize('NFC');
  }

  function count(text) {
    var septets = 0;
    for (var i = 0; i < text.length; i += 1) {
      var ch = text.charAt(i);
      if (GSM_BASIC.indexOf(ch) >= 0) {
        septets += 1;
      } else if (GSM_EXTENDED.indexOf(ch) >= 0) {
        septets += 2;
      } else {
        var units = text.length; /* UTF-16 code units, as UCS-2 counts them */
        return { units: units, parts: units <= 70 ? 1 : Math.ceil(units / 67), unicode: true };
      }
    }
    return { units: septets, parts: septets <= 160 ? 1 : Math.ceil(septets / 153), unicode: false };
  }

  /* -- placeholders: {{name}} from the contacts (the rows on this page win) ----------------- */

  function contacts() {
    var values = {};
    Object.keys(baseContacts).forEach(function (k) { values[k] = baseContacts[k]; });
    var rows = document.querySelectorAll('#contacts .contact-row');
    Array.prototype.forEach.call(rows, function (row) {
      var name = row.querySelector('[name="contact.name"]').value.trim();
      var value = row.querySelector('[name="contact.value"]').value.trim();
      if (name && value) {
        values[name] = value;
      }
    });
    return values;
  }

  function fill(text, values) {
    return text.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : whole;
    }).replace(/\{reference\}/g, reference);
  }

  function capacity(c) {
    return c.parts === 1 ? (c.unicode ? 70 : 160) : c.parts * (c.unicode ? 67 : 153);
  }

  function updateBox(box, values) {
    var input = box.querySelector('.sms-input');
    var live = box.querySelector('.sms-live');
    var preview = box.querySelector('.kd-text');
    var text = fill(input.value.replace(/\r\n/g, '\n').trim(), values || contacts());
    var plain = khongDau(text);
    var stripped = khongDauKinds.indexOf(box.getAttribute('data-kind')) >= 0;
    var sent = count(stripped ? plain : text);
    var other = count(stripped ? text : plain);
    var values = { parts: sent.parts, units: sent.units, capacity: capacity(sent), other: other.parts };
    if (!text) {
      live.textContent = say('empty');
    } else if (stripped) {
      live.textContent = say('live_kd', values);
    } else if (sent.unicode) {
      live.textContent = say('live_accented', values);
    } else {
      live.textContent = say('live_plain', values);
    }
    live.classList.toggle('is-multi', sent.parts > 1);
    live.classList.toggle('is-long', sent.parts > 2);
    preview.textContent = plain;
  }

  function updateAll() {
    var values = contacts();
    Array.prototype.forEach.call(form.querySelectorAll('.sms-box'), function (box) {
      updateBox(box, values);
    });
  }

  form.addEventListener('input', function (event) {
    var target = event.target;
    if (target.classList.contains('sms-input')) {
      updateBox(target.closest('.sms-box'));
    } else if (target.name === 'contact.name' || target.name === 'contact.value') {
      updateAll();
    } else if (target.classList.contains('item-title')) {
      var legend = target.closest('.item-box').querySelector('.item-legend-title');
      legend.textContent = target.value;
    }
  });

  form.addEventListener('change', function (event) {
    var target = event.target;
    if (target.classList.contains('item-action')) {
      var box = target.closest('.item-box').querySelector('.sms-box');
      box.setAttribute('data-kind', target.value === 'tip' ? 'tip_prompt' : 'menu');
      updateBox(box);
    }
  });

  updateAll();
  if (!editable) {
    return;
  }

  /* -- the tree: add, move, remove; numbers are display only (the server renumbers) -------- */

  var tree = document.getElementById('menu-tree');
  var itemTemplate = document.getElementById('menu-item-template');
  var contactTemplate = document.getElementById('contact-template');

  Array.prototype.forEach.call(document.querySelectorAll('.item-tools, [data-contact="remove"]'), function (el) {
    el.hidden = false;
  });

  function childrenOf(list) {
    return Array.prototype.filter.call(list.children, function (el) {
      return el.classList.contains('menu-item');
    });
  }

  function renumber(list, prefix) {
    childrenOf(list).forEach(function (item, index) {
      var number = prefix ? prefix + '.' + (index + 1) : String(index + 1);
      item.querySelector(':scope > .item-box .item-number').textContent = number;
      renumber(item.querySelector(':scope > .menu-children'), number);
    });
  }

  function newItem(depth) {
    var fragment = itemTemplate.content.cloneNode(true);
    var item = fragment.querySelector('.menu-item');
    item.setAttribute('data-depth', String(depth));
    item.querySelector('[name="item.depth"]').value = String(depth);
    item.querySelector('.item-tools').hidden = false;
    return item;
  }

  function addTo(list, depth) {
    var item = newItem(depth);
    list.appendChild(item);
    renumber(tree, '');
    updateBox(item.querySelector('.sms-box'));
    item.querySelector('.item-title').focus();
  }

  form.addEventListener('click', function (event) {
    var button = event.target.closest('button[data-item], button[data-contact]');
    if (!button) {
      return;
    }
    var action = button.getAttribute('data-item') || button.getAttribute('data-contact');
    var item = button.closest('.menu-item');
    if (button.hasAttribute('data-contact')) {
      if (action === 'add') {
        document.getElementById('contacts').appendChild(contactTemplate.content.cloneNode(true));
      } else {
        button.closest('.contact-row').remove();
      }
      updateAll();
      return;
    }
    if (action === 'add') {
      addTo(tree, 1);
    } else if (action === 'child') {
      var depth = parseInt(item.getAttribute('data-depth'), 10) + 1;
      if (depth > 6) {
        return;
      }
      addTo(item.querySelector(':scope > .menu-children'), depth);
    } else if (action === 'up' && item.previousElementSibling) {
      item.parentNode.insertBefore(item, item.previousElementSibling);
      renumber(tree, '');
      button.focus();
    } else if (action === 'down' && item.nextElementSibling) {
      item.parentNode.insertBefore(item.nextElementSibling, item);
      renumber(tree, '');
      button.focus();
    } else if (action === 'remove') {
      var title = item.querySelector('.item-title').value || '';
      var subs = item.querySelectorAll('.menu-item').length;
      var question = subs ? say('remove_children', { title: title, count: subs }) : say('remove', { title: title });
      if (window.confirm(question)) {
        item.remove();
        renumber(tree, '');
      }
    }
  });

  /* -- "Kiểm tra": the server's verdict and the real counts, without saving ----------------- */

  var checkButton = document.getElementById('menu-check');
  var checkResult = document.getElementById('check-result');
  if (checkButton && window.fetch && window.FormData) {
    checkButton.hidden = false;
    checkButton.addEventListener('click', function () {
      checkButton.disabled = true;
      fetch(form.getAttribute('data-check-url'), {
        method: 'POST',
        body: new FormData(form),
        headers: { 'Accept': 'application/json', 'X-Requested-With': 'fetch' },
        credentials: 'same-origin'
      }).then(function (response) {
        return response.json();
      }).then(function (result) {
        checkResult.hidden = false;
        checkResult.classList.toggle('is-ok', !!result.ok);
        checkResult.classList.toggle('is-bad', !result.ok);
        if (!result.ok) {
          checkResult.textContent = say('check_bad', { error: result.error || '?' });
          return;
        }
        var replies = result.replies || {};
        var ids = Object.keys(replies);
        var over = ids.filter(function (id) { return replies[id].parts > 2; });
        checkResult.textContent = over.length
          ? say('check_long', { count: ids.length, ids: over.join(', ') })
          : say('check_ok', { count: ids.length });
        showServerCounts(replies);
      }).catch(function () {
        checkResult.hidden = false;
        checkResult.classList.add('is-bad');
        checkResult.textContent = say('offline');
      }).then(function () {
        checkButton.disabled = false;
      });
    });
  }

  function serverText(c) {
    return say(c.khong_dau ? 'server_kd' : 'server_accented', { parts: c.parts, chars: c.chars });
  }

  function showServerCounts(replies) {
    var menuBox = document.getElementById('menu-text').closest('.sms-box');
    if (replies.menu) {
      menuBox.querySelector('.sms-server').textContent = serverText(replies.menu);
    }
    Array.prototype.forEach.call(tree.querySelectorAll('.menu-item'), function (item) {
      var number = item.querySelector(':scope > .item-box .item-number').textContent;
      var out = item.querySelector(':scope > .item-box .sms-server');
      out.textContent = replies[number] ? serverText(replies[number]) : '';
    });
    Array.prototype.forEach.call(form.querySelectorAll('.sms-input[name^="texts."]'), function (input) {
      var c = replies[input.name];
      input.closest('.sms-box').querySelector('.sms-server').textContent = c ? serverText(c) : '';
    });
  }

  var deleteForm = document.getElementById('delete-language');
  if (deleteForm) {
    deleteForm.addEventListener('submit', function (event) {
      if (!window.confirm(deleteForm.getAttribute('data-confirm'))) {
        event.preventDefault();
      }
    });
  }
}());
