"""Copy stored uploads to Cloudinary and point their owner at the new URL.

The upload is read from the shared storage (models/core/storage.py), not from the
disk of the process that received it."""
from __future__ import annotations

import asyncio
import functools

from celery_app import app
from models.accounts.tables import Profile
from models.core import storage
from models.core.db import transaction
from models.core.media import cloudinary_options, delete_upload
from tasks._runner import run_async


def _owner_updaters():
    # kind -> (model, key column, url column); product images register here too.
    registry = {"profile": (Profile, Profile.photo, Profile.photo_url)}
    from models.catalog.tables import ProductImage

    registry["product"] = (ProductImage, ProductImage.image, ProductImage.image_url)
    return registry


async def _after_move(kind: str, old_url: str, new_url: str) -> None:
    if kind == "product":  # the product's main image is a copy of one image's URL
        from models.catalog.admin import image_url_changed

        await image_url_changed(old_url, new_url)


async def _move(kind: str, object_id: int, key: str) -> str | None:
    import cloudinary.uploader

    model, key_col, url_col = _owner_updaters()[kind]
    row = await model.aio_get_or_none(model.id == object_id)
    if row is None or getattr(row, key_col.name) != key:
        return None  # replaced or removed meanwhile: nothing to do
    old_url = getattr(row, url_col.name)
    try:
        data = await storage.get().read(f"media/{key}")
    except FileNotFoundError:
        return None  # removed meanwhile (the row's key is checked again before the update)
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(None, functools.partial(
        cloudinary.uploader.upload, data, folder=f"avantlush/{kind}", **cloudinary_options()))
    new_key = f"cloudinary:{result['public_id']}"
    async with transaction():
        updated = await model.update({key_col: new_key, url_col: result["secure_url"]}).where(
            (model.id == object_id) & (key_col == key)).aio_execute()
        if updated:
            await _after_move(kind, old_url, result["secure_url"])
    if updated:
        await delete_upload(key)
    return result["secure_url"]


@app.task(autoretry_for=(Exception,), retry_backoff=True, max_retries=6, acks_late=True)
def upload_image(kind: str, object_id: int, key: str) -> str | None:
    return run_async(_move, kind, object_id, key)
