// GOV.UK Frontend components (an ES module, served by this app).
import { initAll } from '/static/vendor/govuk/govuk-frontend.min.js'

initAll()

// htmx swaps new content into the page: initialise GOV.UK components inside it too.
document.body.addEventListener('htmx:afterSwap', function (event) {
  initAll({ scope: event.detail.target })
})
