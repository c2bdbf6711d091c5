"""Uploaded files (when Cloudinary is not configured), and the static files of the app.

``/media/<key>`` serves the upload ``media/<key>`` of the storage
(models/core/storage.py): from ``DATA_DIR/media`` on one machine, or read from the
shared object store, so that any web process serves what any other received.
"""
from __future__ import annotations

import contextlib

import tornado.web

import settings
from models.core import storage


class StaticHandler(tornado.web.StaticFileHandler):
    """Static files with the API's security headers (no server version, no sniffing)."""

    def set_default_headers(self) -> None:
        self.set_header("Server", "AvantLush")
        self.set_header("X-Content-Type-Options", "nosniff")


class MediaHandler(StaticHandler):
    async def get(self, path: str, include_body: bool = True) -> None:
        if not storage.get().shared:
            return await super().get(path, include_body)  # the file under DATA_DIR/media
        if not path or path.startswith("/") or ".." in path.split("/"):
            raise tornado.web.HTTPError(404)
        try:
            size, chunks = await storage.get().open(f"media/{path}")
        except FileNotFoundError:
            raise tornado.web.HTTPError(404) from None
        self.set_header("Content-Type", storage.content_type(path))
        self.set_header("Content-Length", str(size))
        self.set_extra_headers(path)
        async with contextlib.aclosing(chunks):
            if include_body:
                async for chunk in chunks:
                    self.write(chunk)
                    await self.flush()
        self.finish()

    def set_extra_headers(self, path: str) -> None:
        # Keys are random and never reused: a file never changes under its URL.
        self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        # Uploads are served as images, never rendered as pages.
        self.set_header("Content-Security-Policy", "default-src 'none'; sandbox")


routes = [tornado.web.URLSpec(r"/media/(.*)", MediaHandler, {"path": str(settings.MEDIA_DIR)})]
