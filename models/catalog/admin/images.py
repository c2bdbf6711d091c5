"""Product images: add, remove, follow a moved URL.

Triggers (migrations/README.md): image writes bump the catalog cache version
(0003 catalog_version_product_image); the product's main_image through the
product triggers (see products.py).
"""
from __future__ import annotations

from typing import Any

from peewee import fn

from models.catalog.tables import Product, ProductImage
from models.core.db import transaction, utcnow
from models.core.errors import NotFound
from models.core.jobs import enqueue
from models.core.media import cloudinary_enabled, delete_upload, store_image

IMAGE_MAX_BYTES = 5 * 1024 * 1024


# --- images -------------------------------------------------------------------------------

async def add_product_image(product_id: int, data: bytes) -> dict[str, Any]:
    """Store a JPG/PNG (at most 5 MB, checked by content) as an image of the
    product; the first one becomes the main image. With Cloudinary configured
    the file is copied there by a Celery task after the commit.

    Raises NotFound, or ValidationFailed (field ``image``) for a bad file.
    """
    if not await Product.select().where(Product.id == product_id).aio_exists():
        raise NotFound("Product not found.")
    stored = await store_image(data, "products", IMAGE_MAX_BYTES)
    try:
        async with transaction():
            product = await Product.select(Product.id, Product.main_image).where(
                Product.id == product_id).for_update().dicts().aio_execute()
            if not product:
                raise NotFound("Product not found.")
            count, last = (await ProductImage.select(fn.COUNT(ProductImage.id), fn.MAX(ProductImage.position))
                           .where(ProductImage.product == product_id).tuples().aio_execute())[0]
            is_main = count == 0 or product[0]["main_image"] is None
            if is_main:
                await ProductImage.update(is_main=False).where(ProductImage.product == product_id).aio_execute()
            image_id = await ProductImage.insert(product=product_id, image=stored.key, image_url=stored.key,
                                                 is_main=is_main, position=(last or 0) + 1 if count else 0,
                                                 created_at=utcnow()).aio_execute()
            changes: dict[str, Any] = {"updated_at": utcnow()}
            if is_main:
                changes["main_image"] = stored.key
            await Product.update(**changes).where(Product.id == product_id).aio_execute()
            if cloudinary_enabled():
                await enqueue("tasks.images.upload_image", "product", image_id, stored.key)
    except BaseException:
        await delete_upload(stored.key)
        raise
    return {"success": True, "image_url": stored.url, "image_id": image_id}


async def remove_product_image(product_id: int, image_id: int) -> None:
    """Remove an image of the product; if it was the main image the next one
    (by position) takes its place, or none. Raises NotFound (also for another
    product's image)."""
    async with transaction():
        product = await Product.select(Product.id, Product.main_image).where(
            Product.id == product_id).for_update().dicts().aio_execute()
        rows = await ProductImage.select().where(
            (ProductImage.id == image_id) & (ProductImage.product == product_id)).dicts().aio_execute()
        if not product or not rows:
            raise NotFound("Image not found.")
        image = rows[0]
        await ProductImage.delete().where(ProductImage.id == image_id).aio_execute()
        changes: dict[str, Any] = {"updated_at": utcnow()}
        if image["is_main"] or product[0]["main_image"] == image["image_url"]:
            following = await (ProductImage.select(ProductImage.id, ProductImage.image_url)
                               .where(ProductImage.product == product_id)
                               .order_by(ProductImage.position, ProductImage.id).limit(1).tuples().aio_execute())
            if following:
                await ProductImage.update(is_main=True).where(ProductImage.id == following[0][0]).aio_execute()
            changes["main_image"] = following[0][1] if following else None
        await Product.update(**changes).where(Product.id == product_id).aio_execute()
    await delete_upload(image["image"])


async def image_url_changed(old_url: str, new_url: str) -> None:
    """A stored image moved (to Cloudinary): products showing it as main image follow."""
    await Product.update(main_image=new_url).where(Product.main_image == old_url).aio_execute()
