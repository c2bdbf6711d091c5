"""Uploaded images: checked by content, put in the shared storage at once
(``media/<key>``, see models/core/storage.py: so the URL works immediately, from
any web process), then copied to Cloudinary by a Celery task when
``CLOUDINARY_URL`` is set.

Rows keep the key (``products/ab12.jpg``), never a host: ``media_url`` makes
the address when a row is read, from ``MEDIA_URL`` (default
``BACKEND_URL/media/``). A Cloudinary image keeps Cloudinary's own URL. The
SQL function ``media_url(text)`` (migration 0015) is the same rule for the
reads that build their JSON in PostgreSQL; it takes the prefix from the
connection setting ``avantlush.media_url`` (``models.db.init_db``).
"""
from __future__ import annotations

import asyncio
import io
import uuid
import warnings
from dataclasses import dataclass

import settings
from models.core import storage
from models.core.errors import ValidationFailed

FORMATS = {"JPEG": "jpg", "PNG": "png"}


@dataclass
class StoredImage:
    key: str  # what rows store: the file is media/<key> in the storage
    url: str  # its absolute URL now (media_url(key))


TOO_LARGE = "Image dimensions are too large."
INVALID = "Upload a valid image. The file is not a JPG or PNG image."


def _check_image(data: bytes) -> str:
    """The format's extension, once ``data`` is known to be a whole JPG/PNG
    within the size limits: the header is read first (so a few bytes claiming
    a huge image are refused before any pixel is decoded), then every pixel is
    decoded (so truncated or corrupt data fails here, not in a browser).
    Runs in an executor."""
    from PIL import Image, UnidentifiedImageError

    # Pillow's own guard, tied to our limit; its warning becomes a refusal.
    Image.MAX_IMAGE_PIXELS = settings.IMAGE_MAX_PIXELS
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            width, height = img.size
            if (width > settings.IMAGE_MAX_SIDE or height > settings.IMAGE_MAX_SIDE
                    or width * height > settings.IMAGE_MAX_PIXELS):
                raise ValidationFailed.field("image", TOO_LARGE)
            if fmt not in FORMATS:
                raise ValidationFailed.field("image", "Unsupported image format. Use JPG or PNG.")
            img.verify()  # checksums and structure
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # the full decode: truncated pixel data fails here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # few bytes, huge claims
        raise ValidationFailed.field("image", TOO_LARGE) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise ValidationFailed.field("image", INVALID) from None
    return FORMATS[fmt]


def media_url(key: str | None) -> str | None:
    """The address of a stored image: a key gets the ``MEDIA_URL`` prefix; an
    absolute URL (Cloudinary's, or a row written before keys) stays as it is.
    Its SQL twin is ``media_url(text)`` (migration 0015)."""
    if key is None or "://" in key:
        return key
    return settings.MEDIA_URL + key


async def store_image(data: bytes, folder: str, max_bytes: int, field: str = "image") -> StoredImage:
    """Validate ``data`` as a JPG/PNG of at most ``max_bytes`` and store it.

    Raises ValidationFailed (under ``field``) for empty, oversized or non-image data.
    """
    if not data:
        raise ValidationFailed.field(field, "No file was submitted.")
    if len(data) > max_bytes:
        raise ValidationFailed.field(field, f"File too large. Maximum size is {max_bytes // (1024 * 1024)} MB.")
    loop = asyncio.get_running_loop()
    try:
        ext = await loop.run_in_executor(None, _check_image, data)
    except ValidationFailed as exc:
        raise ValidationFailed(errors={field: exc.errors["image"]}) from None
    key = f"{folder}/{uuid.uuid4().hex}.{ext}"
    await storage.get().put_bytes(f"media/{key}", data)
    return StoredImage(key=key, url=media_url(key))


async def delete_upload(key: str | None) -> None:
    """Remove an upload from the storage (nothing for a Cloudinary image)."""
    if not key or key.startswith("cloudinary:"):
        return
    await storage.get().delete(f"media/{key}")


def cloudinary_enabled() -> bool:
    return bool(settings.CLOUDINARY_URL)


def cloudinary_options() -> dict[str, str]:
    """Credentials from ``CLOUDINARY_URL`` (``cloudinary://key:secret@cloud?upload_prefix=…``),
    passed to each SDK call rather than kept in the SDK's global config."""
    from urllib.parse import parse_qsl, unquote, urlparse

    url = urlparse(settings.CLOUDINARY_URL or "")
    if url.scheme != "cloudinary" or not url.hostname:
        raise ValueError("CLOUDINARY_URL must look like cloudinary://api_key:api_secret@cloud_name")
    options = {"cloud_name": url.hostname, "api_key": unquote(url.username or ""),
               "api_secret": unquote(url.password or "")}
    options.update(parse_qsl(url.query))  # e.g. upload_prefix (tests point it at a local fake)
    return options
