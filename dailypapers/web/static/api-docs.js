/* dailypapers: start Swagger UI (vendored) on the /docs page, on the schema its root names. A file, not an
   inline script: the page's policy admits scripts from this site only. */
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") return;
  var bundle = window.SwaggerUIBundle;
  window.ui = bundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null, /* no spec validator badge: it would send the schema's address to another host */
    presets: [bundle.presets.apis, bundle.SwaggerUIStandalonePreset]
  });
})();
