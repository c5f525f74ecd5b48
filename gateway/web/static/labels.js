/* TinBao: page scripts' texts, translated by the server (gateway/web/js_labels.py).
   tinbaoLabel('sim.count', {used: 3, capacity: 160, parts: 1}) fills %(name)s placeholders. */
(function () {
  'use strict';
  var labels = {};
  var block = document.getElementById('tinbao-labels');
  try {
    labels = block ? JSON.parse(block.textContent) : {};
  } catch (err) {
    labels = {};
  }
  window.tinbaoLabel = function (key, values) {
    var text = Object.prototype.hasOwnProperty.call(labels, key) ? labels[key] : key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split('%(' + name + ')s').join(String(values[name]));
    });
    return text;
  };
}());
