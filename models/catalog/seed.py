"""The demo catalog: a furniture and home-decor category tree, tags, sizes,
colors, products with discounts, variations and real JPEG images, a few demo
shoppers with reviews, views and "bought together" links.

``python server.py seed --products 10000`` runs in seconds: rows go in with
``insert_many`` in batches and the images are a small set of JPEG files made
once under ``MEDIA_DIR/seed/`` and shared. Running it again adds more products
(slugs and SKUs get fresh suffixes) and reuses the taxonomy and shoppers.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import re
from decimal import Decimal
from typing import Any

import settings
from models.accounts.tables import User
from models.catalog.tables import (Category, Color, Product, ProductImage, ProductRecommendation, ProductTag,
                                   ProductVariation, ProductView, Review, ReviewHelpful, ReviewTag, ReviewTagLink,
                                   Size, Tag, VariationColor, VariationSize)
from models.core import storage
from models.core.db import db, transaction, utcnow
from models.core.seed import SEEDERS

log = logging.getLogger("avantlush.seed")

BATCH = 1000
IMAGES_PER_CATEGORY = 3
DEMO_PASSWORD = "demo12345"
DEMO_SHOPPERS = [
    ("olivia.bennett@example.com", "Olivia Bennett", "United Kingdom"),
    ("liam.okafor@example.com", "Liam Okafor", "Nigeria"),
    ("sofia.rossi@example.com", "Sofia Rossi", "Italy"),
    ("noah.williams@example.com", "Noah Williams", "United States"),
    ("amara.nwosu@example.com", "Amara Nwosu", "Nigeria"),
    ("lucas.martin@example.com", "Lucas Martin", "France"),
    ("mia.schneider@example.com", "Mia Schneider", "Germany"),
    ("ethan.chen@example.com", "Ethan Chen", "Canada"),
]

SIZES = ["Small", "Medium", "Large", "Single", "Double", "Queen", "King", "4-Seater", "6-Seater", "8-Seater",
         "120 x 170 cm", "160 x 230 cm", "200 x 290 cm"]
COLORS = {"Black": "#1C1C1C", "White": "#F5F5F5", "Charcoal": "#36454F", "Light Grey": "#C8C8C8",
          "Beige": "#D9C8A9", "Sand": "#C2B280", "Navy": "#1F2A44", "Emerald": "#1F6F50", "Mustard": "#D4A017",
          "Terracotta": "#C65D3B", "Blush": "#DE9C9C", "Natural Oak": "#C8A165", "Walnut": "#5D432C"}
TAGS = ["New Arrival", "Bestseller", "Eco-Friendly", "Handmade", "Limited Edition", "Sale", "Solid Wood",
        "Small Spaces"]
REVIEW_TAGS = ["High Quality", "Good Value", "Comfortable", "Easy Assembly", "Sturdy", "Stylish", "Fast Delivery",
               "True to Photos"]
COLLECTIONS = ["Aalto", "Bergen", "Como", "Dune", "Elm", "Fjord", "Harbor", "Iona", "Juno", "Kira", "Lund", "Milo",
               "Nova", "Oslo", "Palma", "Quinn", "Riva", "Sola", "Tova", "Vale", "Wren", "Ynez", "Zola"]

# parent -> {leaf: (product nouns, materials, (min price, max price), variations: color|size|None, sizes)}
TREE: dict[str, dict[str, tuple]] = {
    "Living Room": {
        "Sofas": (["Sofa", "Sectional Sofa", "Loveseat", "Sofa Bed", "Chesterfield Sofa"],
                  ["Velvet", "Linen", "Leather", "Boucle", "Cotton"], (399, 2499), "color", None),
        "Armchairs": (["Armchair", "Accent Chair", "Wingback Chair", "Recliner", "Lounge Chair"],
                      ["Velvet", "Rattan", "Leather", "Boucle", "Linen"], (149, 899), "color", None),
        "Coffee Tables": (["Coffee Table", "Side Table", "Nesting Tables"],
                          ["Oak", "Walnut", "Marble", "Glass", "Travertine"], (79, 599), None, None),
        "TV Stands": (["TV Stand", "Media Console", "Entertainment Unit"],
                      ["Oak", "Walnut", "Pine", "Metal"], (99, 799), None, None),
    },
    "Bedroom": {
        "Beds": (["Bed Frame", "Platform Bed", "Upholstered Bed", "Storage Bed", "Canopy Bed"],
                 ["Oak", "Linen", "Velvet", "Pine", "Metal"], (199, 1899), "size",
                 ["Single", "Double", "Queen", "King"]),
        "Nightstands": (["Nightstand", "Bedside Table"], ["Oak", "Walnut", "Rattan", "Pine"], (49, 349), None, None),
        "Wardrobes": (["Wardrobe", "Armoire"], ["Oak", "Pine", "Walnut", "White Ash"], (249, 1499), None, None),
        "Dressers": (["Dresser", "Chest of Drawers"], ["Oak", "Walnut", "Pine", "Mango Wood"], (149, 999), None, None),
    },
    "Dining": {
        "Dining Tables": (["Dining Table", "Extendable Dining Table", "Round Dining Table", "Bistro Table"],
                          ["Oak", "Walnut", "Marble", "Teak", "Glass"], (149, 1799), "size",
                          ["4-Seater", "6-Seater", "8-Seater"]),
        "Dining Chairs": (["Dining Chair", "Bar Stool", "Dining Bench"],
                          ["Oak", "Velvet", "Rattan", "Leather", "Metal"], (39, 299), "color", None),
        "Sideboards": (["Sideboard", "Buffet Cabinet"], ["Oak", "Walnut", "Mango Wood"], (199, 1199), None, None),
    },
    "Office": {
        "Desks": (["Desk", "Standing Desk", "Writing Desk", "Corner Desk", "Computer Desk"],
                  ["Oak", "Walnut", "Bamboo", "Metal"], (99, 999), "size", ["Small", "Medium", "Large"]),
        "Office Chairs": (["Ergonomic Office Chair", "Ergonomic Task Chair", "Office Chair", "Executive Chair",
                           "Gaming Chair"], ["Mesh", "Leather", "Fabric"], (79, 899), "color", None),
        "Bookcases": (["Bookcase", "Shelving Unit", "Ladder Shelf"], ["Oak", "Pine", "Metal", "Walnut"],
                      (59, 599), None, None),
    },
    "Lighting": {
        "Floor Lamps": (["Floor Lamp", "Arc Floor Lamp", "Tripod Floor Lamp"], ["Brass", "Linen", "Oak", "Metal"],
                        (39, 399), None, None),
        "Table Lamps": (["Table Lamp", "Desk Lamp", "Bedside Lamp"], ["Ceramic", "Brass", "Glass", "Rattan"],
                        (19, 199), None, None),
        "Pendant Lights": (["Pendant Light", "Chandelier"], ["Rattan", "Glass", "Brass", "Paper"], (49, 699),
                           None, None),
    },
    "Decor": {
        "Rugs": (["Rug", "Runner Rug", "Shag Rug"], ["Wool", "Jute", "Cotton", "Viscose"], (49, 899), "size",
                 ["120 x 170 cm", "160 x 230 cm", "200 x 290 cm"]),
        "Mirrors": (["Wall Mirror", "Floor Mirror", "Round Mirror"], ["Brass", "Oak", "Rattan", "Metal"],
                    (39, 399), None, None),
        "Cushions": (["Cushion", "Throw Pillow", "Floor Cushion"], ["Velvet", "Linen", "Cotton", "Boucle"],
                     (12, 69), "color", None),
        "Vases": (["Vase", "Planter"], ["Ceramic", "Glass", "Stoneware", "Terracotta"], (15, 149), None, None),
    },
    "Outdoor": {
        "Garden Chairs": (["Garden Chair", "Deck Chair", "Sun Lounger"], ["Teak", "Rattan", "Aluminium"],
                          (39, 499), "color", None),
        "Garden Tables": (["Garden Table", "Patio Dining Table"], ["Teak", "Aluminium", "Acacia"], (89, 999),
                          None, None),
    },
}
# Shown first, so that even a small catalog has the classics (and search demos work).
CLASSICS = [
    ("Ergonomic Office Chair", "Office Chairs", "Mesh"),
    ("Oak Dining Table", "Dining Tables", "Oak"),
    ("Velvet Chesterfield Sofa", "Sofas", "Velvet"),
    ("Walnut Standing Desk", "Desks", "Walnut"),
    ("Linen Platform Bed", "Beds", "Linen"),
    ("Brass Arc Floor Lamp", "Floor Lamps", "Brass"),
    ("Rattan Accent Chair", "Armchairs", "Rattan"),
    ("Wool Shag Rug", "Rugs", "Wool"),
    ("Marble Coffee Table", "Coffee Tables", "Marble"),
    ("Ceramic Table Lamp", "Table Lamps", "Ceramic"),
]
# What goes with what: the demo's "bought together" links.
COMPLEMENTS = {
    "Sofas": ["Coffee Tables", "Cushions", "Rugs", "Floor Lamps"],
    "Armchairs": ["Floor Lamps", "Cushions", "Coffee Tables"],
    "Dining Tables": ["Dining Chairs", "Sideboards", "Pendant Lights"],
    "Dining Chairs": ["Dining Tables"],
    "Desks": ["Office Chairs", "Table Lamps", "Bookcases"],
    "Office Chairs": ["Desks"],
    "Beds": ["Nightstands", "Table Lamps", "Rugs"],
    "Garden Tables": ["Garden Chairs"],
    "Garden Chairs": ["Garden Tables"],
}
ROOMS = {"Living Room": "living room", "Bedroom": "bedroom", "Dining": "dining room", "Office": "workspace",
         "Outdoor": "garden"}
STYLES = ["Scandinavian", "Mid-Century", "Industrial", "Modern", "Classic", "Rustic", "Minimalist", "Coastal",
          "Japandi"]
REVIEW_TEXT = {
    5: ["Absolutely love it. Looks even better than in the photos.", "Excellent quality and very comfortable.",
        "Worth every penny, I would buy it again."],
    4: ["Very nice piece, assembly took a little longer than expected.", "Good quality for the price.",
        "Looks great in our living room, delivery was quick."],
    3: ["Decent, but the colour is slightly different from the pictures.", "It is fine for the price.",
        "Average quality, does the job."],
    2: ["Arrived with a small scratch; customer service was helpful.", "Not as sturdy as I hoped."],
    1: ["Disappointed, one of the parts was missing.", "Did not match the description."],
}


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --- images ------------------------------------------------------------------------

def _draw_image(path, label: str, hue: int) -> None:
    """A 640x480 JPEG: a soft background, a simple piece of furniture, its category."""
    import colorsys

    from PIL import Image, ImageDraw, ImageFont

    def rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
        return tuple(int(c * 255) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))  # type: ignore[return-value]

    h = hue / 360
    img = Image.new("RGB", (640, 480), rgb(h, 0.12, 0.96))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 360, 640, 480], fill=rgb(h, 0.18, 0.82))  # the floor
    body, dark = rgb(h + 0.05, 0.45, 0.70), rgb(h + 0.05, 0.55, 0.45)
    draw.rounded_rectangle([170, 200, 470, 320], radius=18, fill=body)  # seat / top
    draw.rounded_rectangle([170, 130, 470, 215], radius=18, fill=dark)  # back
    for x in (190, 440):
        draw.rectangle([x, 320, x + 12, 372], fill=dark)  # legs
    font = ImageFont.load_default(size=30)
    draw.text((320, 420), label, fill=rgb(h, 0.6, 0.35), font=font, anchor="mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    img.save(tmp, "JPEG", quality=82)
    tmp.replace(path)


def _ensure_images(leaves: list[str]) -> dict[str, list[str]]:
    """Storage keys of the seed images per leaf category, drawn once."""
    keys: dict[str, list[str]] = {}
    for n, leaf in enumerate(leaves):
        keys[leaf] = []
        for k in range(IMAGES_PER_CATEGORY):
            key = f"seed/{slugify(leaf)}-{k + 1}.jpg"
            path = settings.MEDIA_DIR / key
            if not path.exists():
                _draw_image(path, leaf, (n * 37 + k * 120) % 360)
            keys[leaf].append(key)
    return keys


# --- taxonomy and shoppers ----------------------------------------------------------

async def _ensure_taxonomy() -> dict[str, int]:
    """Categories, tags, sizes, colors and review tags (created when missing); leaf name → id."""
    existing = {slug: cid for cid, slug in await Category.select(Category.id, Category.slug).tuples().aio_execute()}
    ids: dict[str, int] = {}
    for parent, leaves in TREE.items():
        parent_slug = slugify(parent)
        if parent_slug not in existing:
            existing[parent_slug] = (await Category.aio_create(
                name=parent, slug=parent_slug, description=f"{parent} furniture and accessories")).id
        for leaf in leaves:
            slug = slugify(leaf)
            if slug not in existing:
                existing[slug] = (await Category.aio_create(name=leaf, slug=slug, parent=existing[parent_slug],
                                                            description=f"{leaf} for every style")).id
            ids[leaf] = existing[slug]
    await Tag.insert_many([(n, slugify(n)) for n in TAGS],
                          fields=[Tag.name, Tag.slug]).on_conflict_ignore().aio_execute()
    await ReviewTag.insert_many([(n, slugify(n)) for n in REVIEW_TAGS],
                                fields=[ReviewTag.name, ReviewTag.slug]).on_conflict_ignore().aio_execute()
    await Size.insert_many([(n,) for n in SIZES], fields=[Size.name]).on_conflict_ignore().aio_execute()
    await Color.insert_many(list(COLORS.items()),
                            fields=[Color.name, Color.hex_code]).on_conflict_ignore().aio_execute()
    return ids


async def _name_ids(model) -> dict[str, int]:
    return {name: i for i, name in await model.select(model.id, model.name).tuples().aio_execute()}


async def _ensure_shoppers() -> list[int]:
    """The demo shoppers' user ids (password ``demo12345``), created when missing."""
    from models.accounts.actions import create_account
    from models.accounts.passwords import hash_password

    emails = [e for e, _, _ in DEMO_SHOPPERS]
    rows = await User.select(User.id, User.email).where(User.email.in_(emails)).tuples().aio_execute()
    found = {email: user_id for user_id, email in rows}
    missing = [s for s in DEMO_SHOPPERS if s[0] not in found]
    if missing:
        hashed = await hash_password(DEMO_PASSWORD)
        for email, name, location in missing:
            async with transaction():
                user = await create_account(email, hashed, full_name=name, location=location, is_verified=True)
            found[email] = user.id
    return [found[e] for e in emails]


# --- products ---------------------------------------------------------------------------

class _Names:
    """Unique slugs and SKUs, given those already in the database."""

    def __init__(self, slugs: set[str], skus: set[str]) -> None:
        self.slugs, self.skus = slugs, skus
        self.next_sku = len(skus) + 1

    def slug(self, name: str) -> str:
        base = slugify(name)
        slug, n = base, 1
        while slug in self.slugs:
            n += 1
            slug = f"{base}-{n}"
        self.slugs.add(slug)
        return slug

    def sku(self, leaf: str) -> str:
        words = leaf.upper().split()
        prefix = words[0][:2] if len(words) == 1 else words[0][0] + words[1][0]  # Sofas SO, Office Chairs OC
        while True:
            sku = f"AL-{prefix}-{self.next_sku:06d}"
            self.next_sku += 1
            if sku not in self.skus:
                self.skus.add(sku)
                return sku


def _money(rng: random.Random, low: float, high: float) -> Decimal:
    # Shop prices end in .99 or .00.
    whole = int(rng.uniform(low, high))
    return Decimal(f"{whole}.{rng.choice(['99', '99', '00', '50'])}")


def _product_row(rng: random.Random, names: _Names, name: str, leaf: str, parent: str, material: str,
                 category_id: int, now: dt.datetime, classic: bool) -> dict[str, Any]:
    nouns, _materials, (low, high), _var, _sizes = TREE[parent][leaf]
    base_price = _money(rng, low, high)
    roll = rng.random()
    discount_type, discount_value = None, None
    if roll < 0.22:
        discount_type, discount_value = "percentage", Decimal(rng.choice([10, 15, 20, 25, 30]))
    elif roll < 0.30:
        discount_type = "fixed"
        discount_value = min(Decimal(rng.choice([5, 10, 20, 25, 50, 100])), (base_price / 2).quantize(Decimal("1")))
    stock_roll = rng.random()
    stock = 0 if stock_roll < 0.06 else rng.randint(1, 10) if stock_roll < 0.16 else rng.randint(11, 250)
    status_roll = rng.random()
    status = "published" if classic or status_roll < 0.88 else "draft" if status_roll < 0.96 else "archived"
    created = now - dt.timedelta(days=rng.uniform(0, 365), seconds=rng.randint(0, 86400))
    updated = min(now, created + dt.timedelta(days=rng.uniform(0, 60)))
    width, depth, height = rng.randint(30, 240), rng.randint(30, 120), rng.randint(20, 200)
    weight = Decimal(rng.randint(1, 900)) / 10
    style = rng.choice(STYLES)
    room = ROOMS.get(parent, "home")
    description = (f"The {name} brings {style.lower()} calm to your {room}. "
                   f"Made from {material.lower()} with a durable finish, it is built for everyday use "
                   f"and designed to last. Care: wipe with a soft, dry cloth.")
    details = [f"Material: {material}", f"Style: {style}", f"Dimensions: W {width} x D {depth} x H {height} cm",
               f"Weight: {weight} kg", rng.choice(["Assembly required", "Delivered fully assembled"]),
               f"Warranty: {rng.choice([1, 2, 5])} years"]
    return {
        "name": name, "slug": names.slug(name), "description": description, "product_details": details,
        "category": category_id, "base_price": base_price, "discount_type": discount_type,
        "discount_value": discount_value, "vat_amount": None, "sku": names.sku(leaf), "barcode": None,
        "stock_quantity": stock, "status": status, "is_featured": classic or rng.random() < 0.08,
        "is_physical_product": True, "weight": weight, "height": Decimal(height), "length": Decimal(depth),
        "width": Decimal(width), "main_image": None, "rating": Decimal(0), "num_ratings": 0,
        "created_at": created, "updated_at": updated,
    }


_PRODUCT_FIELDS = ["name", "slug", "description", "product_details", "category", "base_price", "discount_type",
                   "discount_value", "vat_amount", "sku", "barcode", "stock_quantity", "status", "is_featured",
                   "is_physical_product", "weight", "height", "length", "width", "main_image", "rating",
                   "num_ratings", "created_at", "updated_at"]


async def _insert_products(rows: list[dict[str, Any]]) -> list[int]:
    fields = [getattr(Product, f) for f in _PRODUCT_FIELDS]
    # ``price`` (generated) and ``search_vector`` (trigger) are never written.
    query = Product.insert_many([tuple(r[f] for f in _PRODUCT_FIELDS) for r in rows], fields=fields)
    result = await query.returning(Product.id).tuples().aio_execute()
    return [r[0] for r in result]


def _plan(rng: random.Random, count: int, slugs: set[str]) -> tuple[list[tuple[str, str, str, str]], int]:
    """(name, leaf, parent, material) for ``count`` products: the classics not
    in the shop yet first, then a mix."""
    parent_of = {leaf: parent for parent, leaves in TREE.items() for leaf in leaves}
    plan = [(name, leaf, parent_of[leaf], material) for name, leaf, material in CLASSICS
            if slugify(name) not in slugs][:count]
    classics = len(plan)
    leaves = list(parent_of)
    while len(plan) < count:
        leaf = rng.choice(leaves)
        nouns, materials, *_ = TREE[parent_of[leaf]][leaf]
        material, noun = rng.choice(materials), rng.choice(nouns)
        name = f"{rng.choice(COLLECTIONS)} {material} {noun}"
        plan.append((name, leaf, parent_of[leaf], material))
    return plan, classics


async def seed_products(count: int, progress: bool) -> None:
    """Add ``count`` demo products (and the taxonomy, shoppers and reviews they need)."""
    from tqdm import tqdm

    rng = random.Random(count)
    category_ids = await _ensure_taxonomy()
    tag_ids = list((await _name_ids(Tag)).values())
    review_tag_ids = list((await _name_ids(ReviewTag)).values())
    size_ids, color_ids = await _name_ids(Size), await _name_ids(Color)
    shoppers = await _ensure_shoppers()
    loop = asyncio.get_running_loop()
    image_keys = await loop.run_in_executor(None, _ensure_images, list(category_ids))
    files = storage.get()
    if files.shared:  # drawn here, served from the shared store
        for key in {k for keys in image_keys.values() for k in keys}:
            if not await files.exists(f"media/{key}"):
                await files.put_bytes(f"media/{key}", (settings.MEDIA_DIR / key).read_bytes())

    taken = await Product.select(Product.slug, Product.sku).tuples().aio_execute()
    names = _Names({s for s, _ in taken}, {k for _, k in taken})
    rng.seed(count + len(taken))
    now = utcnow()
    plan, classics = _plan(rng, count, names.slugs)
    new_ids: dict[str, list[int]] = {}  # leaf -> published product ids of this run
    bar = tqdm(total=count, unit="product", desc="products", disable=not progress)
    for start in range(0, count, BATCH):
        chunk = plan[start:start + BATCH]
        rows = [_product_row(rng, names, name, leaf, parent, material, category_ids[leaf], now,
                             classic=start + i < classics)
                for i, (name, leaf, parent, material) in enumerate(chunk)]
        async with transaction():
            ids = await _insert_products(rows)
            await _add_children(rng, ids, rows, chunk, image_keys, tag_ids, size_ids, color_ids)
        for pid, row, (_, leaf, _, _) in zip(ids, rows, chunk):
            if row["status"] == "published":
                new_ids.setdefault(leaf, []).append(pid)
        bar.update(len(chunk))
    bar.close()
    published = [pid for ids in new_ids.values() for pid in ids]
    async with transaction():
        await _add_complements(rng, new_ids)
        await _add_reviews(rng, published, shoppers, review_tag_ids)
        await _add_views(rng, published, shoppers, now)
    # Fresh planner statistics (the search and list plans depend on them) and
    # visibility maps (the list reads its pages' ids from its indexes alone).
    await db.aio_execute_sql("VACUUM (ANALYZE) product, product_image, product_variation, category, review, "
                             "product_view, product_count, search_word, search_word_variant")
    log.info("seeded %d products", count)


async def _add_children(rng: random.Random, ids: list[int], rows: list[dict], chunk: list[tuple],
                        image_keys: dict[str, list[str]], tag_ids: list[int], size_ids: dict[str, int],
                        color_ids: dict[str, int]) -> None:
    """Images, tags and variations (with sizes and colors) of one batch of products."""
    images, tags, variations, links = [], [], [], []
    for pid, row, (_, leaf, parent, _) in zip(ids, rows, chunk):
        keys = image_keys[leaf][:]
        rng.shuffle(keys)
        for pos, key in enumerate(keys[:rng.randint(2, IMAGES_PER_CATEGORY)]):
            images.append((pid, key, key, pos == 0, pos))  # rows keep keys (models/core/media.py)
        for tag in rng.sample(tag_ids, rng.randint(0, 2)):
            tags.append((pid, tag))
        kind, sizes = TREE[parent][leaf][3], TREE[parent][leaf][4]
        if kind and rng.random() < 0.6:
            options = sizes if kind == "size" else rng.sample(list(COLORS), 3)
            for n, option in enumerate(options):
                adjustment = Decimal(0) if kind == "color" or n == 0 else Decimal(n * rng.choice([20, 40, 60]))
                sku = f"{row['sku']}-{slugify(option).upper()[:12]}"
                variations.append((pid, "Size" if kind == "size" else "Color", option, adjustment,
                                   rng.randint(0, 40), sku, n == 0))
                links.append((kind, option))
    if images:
        await ProductImage.insert_many(images, fields=[ProductImage.product, ProductImage.image,
                                                       ProductImage.image_url, ProductImage.is_main,
                                                       ProductImage.position]).aio_execute()
        # The main image is the first one, as an uploaded product's would be.
        await db.aio_execute_sql(
            "UPDATE product p SET main_image = i.image_url FROM product_image i "
            "WHERE i.product_id = p.id AND i.is_main AND p.id = ANY(%s)", [ids])
    if tags:
        await ProductTag.insert_many(tags, fields=[ProductTag.product, ProductTag.tag]).aio_execute()
    if variations:
        fields = [ProductVariation.product, ProductVariation.variation_type, ProductVariation.variation,
                  ProductVariation.price_adjustment, ProductVariation.stock_quantity, ProductVariation.sku,
                  ProductVariation.is_default]
        result = await ProductVariation.insert_many(variations, fields=fields).returning(
            ProductVariation.id).tuples().aio_execute()
        size_links, color_links = [], []
        for (vid,), (kind, option) in zip(result, links):
            if kind == "size":
                size_links.append((vid, size_ids[option]))
            else:
                color_links.append((vid, color_ids[option]))
        if size_links:
            await VariationSize.insert_many(size_links,
                                            fields=[VariationSize.variation, VariationSize.size]).aio_execute()
        if color_links:
            await VariationColor.insert_many(color_links,
                                             fields=[VariationColor.variation, VariationColor.color]).aio_execute()


async def _insert_batches(model, rows: list[tuple], fields: list) -> None:
    for start in range(0, len(rows), BATCH * 2):
        await model.insert_many(rows[start:start + BATCH * 2], fields=fields).aio_execute()


async def _add_complements(rng: random.Random, new_ids: dict[str, list[int]]) -> None:
    """Demo "bought together" links between complementary categories (replaced
    by real co-purchases once orders exist: see recommend.rebuild_complementary)."""
    rows = []
    for leaf, partners in COMPLEMENTS.items():
        pool = [pid for p in partners for pid in new_ids.get(p, [])]
        if not pool:
            continue
        for pid in new_ids.get(leaf, []):
            for rec in rng.sample(pool, min(4, len(pool))):
                rows.append((pid, rec, "complementary", float(rng.randint(1, 20))))
    await _insert_batches(ProductRecommendation, rows, [ProductRecommendation.product,
                                                        ProductRecommendation.recommended,
                                                        ProductRecommendation.kind, ProductRecommendation.score])


async def _add_reviews(rng: random.Random, product_ids: list[int], shoppers: list[int],
                       review_tag_ids: list[int]) -> None:
    """Reviews by the demo shoppers on about a third of the products, with
    tags and helpful votes; then each product's rating and count."""
    reviewed = [pid for pid in product_ids if rng.random() < 0.35]
    rows, plan = [], []
    now = utcnow()
    for pid in reviewed:
        for user_id in rng.sample(shoppers, rng.randint(1, min(5, len(shoppers)))):
            rating = rng.choices([5, 4, 3, 2, 1], weights=[45, 30, 13, 7, 5])[0]
            voters = rng.sample([s for s in shoppers if s != user_id], rng.randint(0, 3))
            rows.append((pid, user_id, rating, rng.choice(REVIEW_TEXT[rating]), False, len(voters),
                         now - dt.timedelta(days=rng.uniform(0, 180))))
            plan.append((rng.sample(review_tag_ids, rng.randint(0, 3)) if review_tag_ids else [], voters))
    fields = [Review.product, Review.user, Review.rating, Review.content, Review.is_verified_purchase,
              Review.helpful_count, Review.created_at]
    tag_links, votes = [], []
    for start in range(0, len(rows), BATCH * 2):
        result = await Review.insert_many(rows[start:start + BATCH * 2], fields=fields).returning(
            Review.id).tuples().aio_execute()
        for (rid,), (tags, voters) in zip(result, plan[start:start + BATCH * 2]):
            tag_links += [(rid, t) for t in tags]
            votes += [(rid, v) for v in voters]
    await _insert_batches(ReviewTagLink, tag_links, [ReviewTagLink.review, ReviewTagLink.tag])
    await _insert_batches(ReviewHelpful, votes, [ReviewHelpful.review, ReviewHelpful.user])
    if reviewed:
        await db.aio_execute_sql(
            "UPDATE product p SET rating = s.avg, num_ratings = s.n FROM ("
            " SELECT product_id, round(avg(rating), 2) AS avg, count(*) AS n FROM review"
            " WHERE product_id = ANY(%s) GROUP BY product_id) s WHERE s.product_id = p.id", [reviewed])


async def _add_views(rng: random.Random, product_ids: list[int], shoppers: list[int], now: dt.datetime) -> None:
    """A few recent views, so "similar" can rank by popularity."""
    rows = [(pid, rng.choice(shoppers), now - dt.timedelta(days=rng.uniform(0, 60)))
            for pid in product_ids for _ in range(rng.choice([0, 0, 1, 2, 5]))]
    await _insert_batches(ProductView, rows, [ProductView.product, ProductView.user, ProductView.viewed_at])


SEEDERS["products"] = seed_products
