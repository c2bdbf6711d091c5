// Swagger UI over this server's OpenAPI document (same origin, no inline script).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/schema/",
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    persistAuthorization: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
