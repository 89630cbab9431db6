(function () {
  var classes = JSON.parse(document.getElementById('classes').textContent);
  var select = document.getElementById('filter');
  var sections = Array.prototype.slice.call(document.querySelectorAll('section.sentence'));
  function keep(s, mode) {
    if (mode === 'root') { return s.dataset.rootError === '1'; }
    if (mode === 'node') { return Number(s.dataset.nodeErrors) > 0; }
    return true;
  }
  function apply() {
    var mode = select.value, shown = 0;
    sections.forEach(function (s) {
      var on = keep(s, mode);
      s.hidden = !on;
      if (on) { shown += 1; }
    });
    document.getElementById('count').textContent =
      'showing ' + shown + ' of ' + sections.length + ' sentences';
    document.body.dataset.shown = String(shown);
  }
  var m = /filter=(all|root|node)/.exec(window.location.hash);
  if (m) { select.value = m[1]; }
  select.addEventListener('change', apply);
  apply();
  var tip = document.getElementById('tip');
  function show(g, ev) {
    var probs = (g.dataset.probs || '').split(',').filter(function (v) { return v !== ''; });
    var gold = Number(g.dataset.gold), pred = Number(g.dataset.pred);
    if (!probs.length || pred < 0) {
      tip.textContent = 'no value (incomplete sub-expression)';
    } else {
      var rows = probs.map(function (p, k) {
        var mark = (k === pred ? ' \u2190 predicted' : '') + (k === gold ? ' \u2190 gold' : '');
        return '<tr><td>' + classes[k] + '</td><td>' + Number(p).toFixed(3) +
          '<span class="bar" style="width:' + Math.round(80 * Number(p)) + 'px"></span></td>' +
          '<td>' + mark + '</td></tr>';
      });
      tip.innerHTML = '<table>' + rows.join('') + '</table>';
    }
    tip.style.display = 'block';
    tip.style.left = (ev.clientX + 14) + 'px';
    tip.style.top = (ev.clientY + 14) + 'px';
  }
  document.querySelectorAll('g.node').forEach(function (g) {
    g.addEventListener('mousemove', function (ev) { show(g, ev); });
    g.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  });
  document.body.dataset.ready = '1';
})();
