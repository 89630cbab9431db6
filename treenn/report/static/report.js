(function () {
  var toc = document.getElementById('toc');
  var title = document.createElement('b');
  title.textContent = 'Contents';
  toc.appendChild(title);
  document.querySelectorAll('main h2').forEach(function (h) {
    var a = document.createElement('a');
    a.href = '#' + h.id;
    a.textContent = h.textContent;
    toc.appendChild(a);
  });
  document.body.dataset.plots = String(document.querySelectorAll('figure.plot svg').length);
  document.body.dataset.ready = '1';
})();
