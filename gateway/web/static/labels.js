/* TinBao: page scripts' texts, translated by the server (gateway/web/js_labels.py).
   tinbaoLabel('sim.count', {used: 3, capacity: 160, parts: 1}) fills %(name)s placeholders;
   tinbaoLabel('bc.people', values, count) picks the plural form the server gave for count. */
(function () {
  'use strict';
  var labels = {};
  var block = document.getElementById('tinbao-labels');
  try {
    labels = block ? JSON.parse(block.textContent) : {};
  } catch (err) {
    labels = {};
  }
  var has = function (key) { return Object.prototype.hasOwnProperty.call(labels, key); };
  window.tinbaoLabel = function (key, values, count) {
    if (count !== undefined && has(key + '.one')) {
      key += count === 1 ? '.one' : '.other';
    }
    var text = has(key) ? labels[key] : key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split('%(' + name + ')s').join(String(values[name]));
    });
    return text;
  };
}());
