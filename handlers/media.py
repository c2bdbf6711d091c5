"""Uploaded files stored locally (when Cloudinary is not configured), and the
static files of the app."""
from __future__ import annotations

import tornado.web

import settings


class StaticHandler(tornado.web.StaticFileHandler):
    """Static files with the API's security headers (no server version, no sniffing)."""

    def set_default_headers(self) -> None:
        self.set_header("Server", "AvantLush")
        self.set_header("X-Content-Type-Options", "nosniff")


class MediaHandler(StaticHandler):
    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        # Uploads are served as images, never rendered as pages.
        self.set_header("Content-Security-Policy", "default-src 'none'; sandbox")


routes = [tornado.web.URLSpec(r"/media/(.*)", MediaHandler, {"path": str(settings.MEDIA_DIR)})]
