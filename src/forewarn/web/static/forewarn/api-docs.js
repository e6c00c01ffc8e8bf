// The API documentation page (/api/docs): Swagger UI over this app's OpenAPI file, from the app's own copy.
// "Try it out" sends requests as the signed-in user, with the session's CSRF token (kept on <body> for htmx).
(function () {
  var headers = JSON.parse(document.body.getAttribute('hx-headers') || '{}')
  var csrf = headers['X-CSRF-Token']
  window.SwaggerUIBundle({
    url: '/api/v1/openapi.json',
    dom_id: '#swagger-ui',
    validatorUrl: null, // the validator badge would fetch from validator.swagger.io
    deepLinking: false,
    defaultModelsExpandDepth: 0,
    requestInterceptor: function (request) {
      if (csrf) request.headers['X-CSRF-Token'] = csrf
      return request
    }
  })
})()
