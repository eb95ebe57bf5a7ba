"""The API docs pages: Swagger UI at ``/docs`` and ReDoc at ``/redoc``, both from the copies vendored in
``static/vendor/`` (``scripts/vendor_assets.sh``), so they work offline and load nothing from another host.

Swagger UI starts from ``static/api-docs.js`` rather than the inline script FastAPI's
``get_swagger_ui_html`` writes, so the page runs no inline script at all; ReDoc is FastAPI's
``get_redoc_html`` without Google fonts (its only inline part is a ``<style>``). No operation of the API
uses OAuth2, so there is no OAuth2 redirect page. :mod:`dailypapers.web.security` gives these two paths
their own policy (:data:`~dailypapers.web.security.DOCS_CSP`: still this site only).
"""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse

SWAGGER_UI = "/docs"
REDOC = "/redoc"
PATHS = (SWAGGER_UI, REDOC)
VENDOR = "/static/vendor"
FAVICON = "/static/favicon.svg"

router = APIRouter(include_in_schema=False)


@router.get(SWAGGER_UI)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI on the app's OpenAPI schema."""
    app = request.app
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(app.title)} - Swagger UI</title>
<link rel="stylesheet" href="{VENDOR}/swagger-ui/swagger-ui.css">
<link rel="icon" href="{FAVICON}" type="image/svg+xml">
</head>
<body>
<main id="swagger-ui" data-openapi-url="{escape(app.openapi_url)}"></main>
<script src="{VENDOR}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/api-docs.js"></script>
</body>
</html>
"""
    )


@router.get(REDOC)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc on the app's OpenAPI schema, in the system fonts."""
    app = request.app
    return get_redoc_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )
