"""Uploaded files stored locally (when Cloudinary is not configured)."""
from __future__ import annotations

import tornado.web

import settings


class MediaHandler(tornado.web.StaticFileHandler):
    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        self.set_header("X-Content-Type-Options", "nosniff")


routes = [tornado.web.URLSpec(r"/media/(.*)", MediaHandler, {"path": str(settings.MEDIA_DIR)})]
