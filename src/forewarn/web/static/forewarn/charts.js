// Enhances server-drawn charts: each figure holds its Vega-Lite spec in a JSON block; with JavaScript on,
// Vega-Embed draws it in the page with hover and tooltips. Without JavaScript, the <noscript> SVG image shows.
(function () {
  'use strict'
  function embedAll (root) {
    var charts = root.querySelectorAll('[data-vega-spec]')
    Array.prototype.forEach.call(charts, function (el) {
      if (el.getAttribute('data-embedded') === 'true') { return }
      var source = document.getElementById(el.getAttribute('data-vega-spec'))
      if (!source) { return }
      var spec = JSON.parse(source.textContent)
      el.setAttribute('data-embedded', 'true')
      vegaEmbed(el, spec, {
        mode: 'vega-lite',
        renderer: 'svg',
        actions: false,
        defaultStyle: false,
        ast: true,
        expr: vegaEmbed.expressionInterpreter
      }).then(function () {
        el.classList.add('fw-chart__canvas--drawn')
      }).catch(function (error) {
        el.setAttribute('data-embed-error', String(error))
      })
    })
  }
  embedAll(document)
  document.body.addEventListener('htmx:afterSwap', function (event) { embedAll(event.detail.target) })
})()
