"""The web room: FastAPI JSON API and server-rendered pages. Nothing outside ``web/`` imports it."""
