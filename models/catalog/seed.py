"""The demo catalog: a furniture and home-decor category tree, tags, sizes,
colors, products with discounts, variations and real JPEG images, a few demo
shoppers with reviews, views and "bought together" links.

``python server.py seed --products 100000`` is a bulk load in phases
(products, variations, images, reviews), each in committed batches of
``BATCH`` products with its progress bar; each batch records its progress in
``seed_run`` in its own transaction (models/seed.py ``Run``), so an
interrupted seed keeps its batches and the same command continues it. A
product's variations, images and reviews are drawn from its id, so a phase
knows what another adds. The images are a small set of JPEG files made once
under ``MEDIA_DIR/seed/`` and shared. Running it again adds more products
(slugs and SKUs get fresh suffixes) and reuses the taxonomy and shoppers.

Triggers: product and product_image rows bump the catalog's cache version
(0003 catalog_version_bump) and feed the search index's change log (0012
search_feed_*) row by row; a batch switches those off and bumps the version
once, and the run ends with one new search epoch (0016
search_feed_new_epoch): every web process reloads its index. The rest run as
for any write: the search document (0002/0007 product_search_vector_update,
product_tag_reindex), the lexicon (0007 search_word_*), product_search and
product_count.
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
from models.catalog.tables import (
    Category,
    Color,
    Product,
    ProductImage,
    ProductRecommendation,
    ProductTag,
    ProductVariation,
    ProductView,
    Review,
    ReviewHelpful,
    ReviewTag,
    ReviewTagLink,
    Size,
    Tag,
    VariationColor,
    VariationSize,
)
from models.core import storage
from models.core.db import db, fetch_all, fetch_one, transaction, utcnow
from models.core.seed import SEEDERS, Run, after_bulk, progress_bar, triggers_off

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


def _product_row(rng: random.Random, names: _Names, pid: int, name: str, leaf: str, parent: str, material: str,
                 category_id: int, main_image: str | None, now: dt.datetime, classic: bool) -> dict[str, Any]:
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
        "id": pid, "name": name, "slug": names.slug(name), "description": description, "product_details": details,
        "category": category_id, "base_price": base_price, "discount_type": discount_type,
        "discount_value": discount_value, "vat_amount": None, "sku": names.sku(leaf), "barcode": None,
        "stock_quantity": stock, "status": status, "is_featured": classic or rng.random() < 0.08,
        "is_physical_product": True, "weight": weight, "height": Decimal(height), "length": Decimal(depth),
        "width": Decimal(width), "main_image": main_image, "rating": Decimal(0), "num_ratings": 0,
        "created_at": created, "updated_at": updated,
    }


_PRODUCT_FIELDS = ["id", "name", "slug", "description", "product_details", "category", "base_price", "discount_type",
                   "discount_value", "vat_amount", "sku", "barcode", "stock_quantity", "status", "is_featured",
                   "is_physical_product", "weight", "height", "length", "width", "main_image", "rating",
                   "num_ratings", "created_at", "updated_at"]


async def _insert_products(rows: list[dict[str, Any]]) -> None:
    fields = [getattr(Product, f) for f in _PRODUCT_FIELDS]
    # ``price`` (generated) and ``search_vector`` (trigger) are never written.
    await Product.insert_many([tuple(r[f] for f in _PRODUCT_FIELDS) for r in rows], fields=fields).aio_execute()


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


# --- the load: phases of committed batches -------------------------------------------------------

# Per-row work a bulk load does once instead (migration 0016): the catalog's
# cache version is bumped once per batch; the search change feed is not
# written row by row: the run ends with a new search epoch (every web process
# reloads its index), also when it stops half-way.
_CATALOG_VERSION = [("product", "catalog_version_product"), ("product_image", "catalog_version_product_image")]
_SEARCH_FEED = [("product_search", "search_feed_products_insert"), ("product_search", "search_feed_products_update"),
                ("search_word", "search_feed_words_insert"), ("search_word", "search_feed_words_update")]


class _Context:
    """What every phase needs: the taxonomy's ids, the shoppers, the seed images."""

    leaf_of: dict[int, tuple[str, str]]  # category id -> (leaf, parent)
    category_ids: dict[str, int]
    tag_ids: list[int]
    review_tag_ids: list[int]
    size_ids: dict[str, int]
    color_ids: dict[str, int]
    shoppers: list[int]
    image_keys: dict[str, list[str]]

    @classmethod
    async def load(cls) -> "_Context":
        ctx = cls()
        ctx.category_ids = await _ensure_taxonomy()
        parent_of = {leaf: parent for parent, leaves in TREE.items() for leaf in leaves}
        ctx.leaf_of = {cid: (leaf, parent_of[leaf]) for leaf, cid in ctx.category_ids.items()}
        ctx.tag_ids = list((await _name_ids(Tag)).values())
        ctx.review_tag_ids = list((await _name_ids(ReviewTag)).values())
        ctx.size_ids, ctx.color_ids = await _name_ids(Size), await _name_ids(Color)
        ctx.shoppers = await _ensure_shoppers()
        loop = asyncio.get_running_loop()
        ctx.image_keys = await loop.run_in_executor(None, _ensure_images, list(ctx.category_ids))
        files = storage.get()
        if files.shared:  # drawn here, served from the shared store
            for key in {k for keys in ctx.image_keys.values() for k in keys}:
                if not await files.exists(f"media/{key}"):
                    await files.put_bytes(f"media/{key}", (settings.MEDIA_DIR / key).read_bytes())
        return ctx


def _product_rng(phase: str, pid: int) -> random.Random:
    """A product's own draws for a phase: a batch done again (after an
    interruption) draws the same, and the products phase knows the main image
    the images phase will add."""
    return random.Random(f"{phase}:{pid}")


def _image_keys_of(ctx: _Context, pid: int, leaf: str) -> list[str]:
    rng = _product_rng("images", pid)
    keys = ctx.image_keys[leaf][:]
    rng.shuffle(keys)
    return keys[:rng.randint(2, IMAGES_PER_CATEGORY)]


async def seed_products(count: int, progress: bool) -> None:
    """Add ``count`` demo products with their variations, images, reviews,
    views and "bought together" links (and the taxonomy and shoppers they
    need), in phases of committed batches. An unfinished earlier run is
    continued instead (see models/seed.py ``Run``)."""
    run = await Run.open("products", count)
    ctx = await _Context.load()
    try:
        await _products_phase(run, ctx, progress)
        await _children_phase(run, ctx, progress, "variations", "product", _add_variations)
        await _children_phase(run, ctx, progress, "images", "product", _add_images)
        await _reviews_phase(run, ctx, progress)
        await seed_attributes()
        # Fresh planner statistics (the search and list plans depend on them) and
        # visibility maps (the list reads its pages' ids from its indexes alone).
        await db.aio_execute_sql("VACUUM (ANALYZE) product, product_image, product_variation, category, review, "
                                 "product_view, product_count, product_search, search_word, search_word_variant")
        await run.finish()
    finally:
        # Whatever committed is searchable: every web process reloads its index.
        await after_bulk("SELECT search_feed_new_epoch()")
    log.info("seeded %d products", run.target)


async def _products_phase(run: Run, ctx: _Context, progress: bool) -> None:
    done = run.done("products")
    if done >= run.target:
        return
    taken = await Product.select(Product.slug, Product.sku).tuples().aio_execute()
    names = _Names({s for s, _ in taken}, {k for _, k in taken})
    rng = random.Random(f"{run.id}:{done}:{len(taken)}")
    now = utcnow()
    plan, classics = _plan(rng, run.target - done, names.slugs)
    bar = progress_bar(run.target, "products", "product", progress, initial=done)
    for start in range(0, len(plan), BATCH):
        chunk = plan[start:start + BATCH]
        async with transaction():
            ids = [r[0] for r in await fetch_all(
                "SELECT nextval(pg_get_serial_sequence('product', 'id')) FROM generate_series(1, %s)", (len(chunk),))]
            rows, tags = [], []
            for i, (pid, (name, leaf, parent, material)) in enumerate(zip(ids, chunk)):
                main_image = _image_keys_of(ctx, pid, leaf)[0]  # rows keep keys (models/core/media.py)
                rows.append(_product_row(rng, names, pid, name, leaf, parent, material, ctx.category_ids[leaf],
                                         main_image, now, classic=start + i < classics))
                tags += [(pid, tag) for tag in rng.sample(ctx.tag_ids, rng.randint(0, 2))]
            async with triggers_off(*_CATALOG_VERSION[:1], *_SEARCH_FEED):
                await _insert_products(rows)
                if tags:  # their trigger re-indexes the tagged products' search documents
                    await ProductTag.insert_many(tags, fields=[ProductTag.product, ProductTag.tag]).aio_execute()
            await db.aio_execute_sql("SELECT catalog_version_bump_now()")
            done += len(chunk)
            await run.record("products", done, ids)
        bar.update(len(chunk))
    bar.close()


_RUN_PRODUCTS = """SELECT p.id, p.sku, p.category_id, p.status FROM product p
WHERE p.id > %s AND p.id <@ (SELECT ids FROM seed_run WHERE id = %s) ORDER BY p.id LIMIT %s"""


async def _children_phase(run: Run, ctx: _Context, progress: bool, phase: str, unit: str, add) -> None:
    """Walk the run's products in id order, a batch per transaction, calling
    ``add(ctx, products)``; the last product id done is the phase's progress."""
    after = run.done(phase)
    if after < 0:  # the phase is complete
        return
    total, initial = await fetch_one(
        "SELECT count(*), count(*) FILTER (WHERE p.id <= %s) FROM product p "
        "WHERE p.id <@ (SELECT ids FROM seed_run WHERE id = %s)", (after, run.id))
    bar = progress_bar(total, phase, unit, progress, initial=initial)
    while True:
        products = await fetch_all(_RUN_PRODUCTS, (after, run.id, BATCH))
        async with transaction():
            if products:
                await add(ctx, products)
                after = products[-1][0]
            await run.record(phase, after if products else -1)
        if not products:
            break
        bar.update(len(products))
    bar.close()


async def _add_variations(ctx: _Context, products: list[tuple]) -> None:
    """Variations (with their sizes or colors) of a batch of products."""
    variations, links = [], []
    for pid, sku, category_id, _status in products:
        if category_id not in ctx.leaf_of:
            continue  # moved to a category of its own since
        leaf, parent = ctx.leaf_of[category_id]
        kind, sizes = TREE[parent][leaf][3], TREE[parent][leaf][4]
        rng = _product_rng("variations", pid)
        if kind and rng.random() < 0.6:
            options = sizes if kind == "size" else rng.sample(list(COLORS), 3)
            for n, option in enumerate(options):
                adjustment = Decimal(0) if kind == "color" or n == 0 else Decimal(n * rng.choice([20, 40, 60]))
                variations.append((pid, "Size" if kind == "size" else "Color", option, adjustment,
                                   rng.randint(0, 40), f"{sku}-{slugify(option).upper()[:12]}", n == 0))
                links.append((kind, option))
    if not variations:
        return
    fields = [ProductVariation.product, ProductVariation.variation_type, ProductVariation.variation,
              ProductVariation.price_adjustment, ProductVariation.stock_quantity, ProductVariation.sku,
              ProductVariation.is_default]
    result = await ProductVariation.insert_many(variations, fields=fields).returning(
        ProductVariation.id).tuples().aio_execute()
    size_links, color_links = [], []
    for (vid,), (kind, option) in zip(result, links):
        if kind == "size":
            size_links.append((vid, ctx.size_ids[option]))
        else:
            color_links.append((vid, ctx.color_ids[option]))
    if size_links:
        await VariationSize.insert_many(size_links, fields=[VariationSize.variation, VariationSize.size]).aio_execute()
    if color_links:
        await VariationColor.insert_many(color_links,
                                         fields=[VariationColor.variation, VariationColor.color]).aio_execute()


async def _add_images(ctx: _Context, products: list[tuple]) -> None:
    """The images of a batch of products (the first is the main image the product already names)."""
    images = []
    for pid, _sku, category_id, _status in products:
        if category_id in ctx.leaf_of:
            for pos, key in enumerate(_image_keys_of(ctx, pid, ctx.leaf_of[category_id][0])):
                images.append((pid, key, key, pos == 0, pos))  # rows keep keys (models/core/media.py)
    if images:
        async with triggers_off(*_CATALOG_VERSION[1:]):
            await ProductImage.insert_many(images, fields=[ProductImage.product, ProductImage.image,
                                                           ProductImage.image_url, ProductImage.is_main,
                                                           ProductImage.position]).aio_execute()
        await db.aio_execute_sql("SELECT catalog_version_bump_now()")


async def _reviews_phase(run: Run, ctx: _Context, progress: bool) -> None:
    """Reviews (with tags, helpful votes and each product's rating), views and
    "bought together" links of the run's published products."""
    if run.done("reviews") < 0:
        return
    partners: dict[int, list[int]] = {}  # category id -> the run's published products there
    for pid, category_id in await fetch_all(
            "SELECT p.id, p.category_id FROM product p WHERE p.status = 'published' "
            "AND p.id <@ (SELECT ids FROM seed_run WHERE id = %s)", (run.id,)):
        partners.setdefault(category_id, []).append(pid)
    pools: dict[int, list[int]] = {}
    for leaf, others in COMPLEMENTS.items():
        pool = [pid for other in others if other in ctx.category_ids for pid in partners.get(ctx.category_ids[other], [])]
        if leaf in ctx.category_ids and pool:
            pools[ctx.category_ids[leaf]] = pool
    now = utcnow()

    async def add(_ctx: _Context, products: list[tuple]) -> None:
        published = [(pid, category_id) for pid, _sku, category_id, status in products if status == "published"]
        async with triggers_off(*_SEARCH_FEED):
            await _add_reviews(published, ctx.shoppers, ctx.review_tag_ids, now)
        await _add_views(published, ctx.shoppers, now)
        await _add_complements(published, pools)

    await _children_phase(run, ctx, progress, "reviews", "product", add)


async def _insert_batches(model, rows: list[tuple], fields: list) -> None:
    for start in range(0, len(rows), BATCH * 2):
        await model.insert_many(rows[start:start + BATCH * 2], fields=fields).aio_execute()


async def _add_complements(products: list[tuple[int, int]], pools: dict[int, list[int]]) -> None:
    """Demo "bought together" links between complementary categories (replaced
    by real co-purchases once orders exist: see recommend.rebuild_complementary)."""
    rows = []
    for pid, category_id in products:
        pool = pools.get(category_id)
        if pool:
            rng = _product_rng("complements", pid)
            for rec in rng.sample(pool, min(4, len(pool))):
                rows.append((pid, rec, "complementary", float(rng.randint(1, 20))))
    await _insert_batches(ProductRecommendation, rows, [ProductRecommendation.product,
                                                        ProductRecommendation.recommended,
                                                        ProductRecommendation.kind, ProductRecommendation.score])


async def _add_reviews(products: list[tuple[int, int]], shoppers: list[int], review_tag_ids: list[int],
                       now: dt.datetime) -> None:
    """Reviews by the demo shoppers on about a third of the products, with
    tags and helpful votes; then each product's rating and count."""
    rows, plan, reviewed = [], [], []
    for pid, _category_id in products:
        rng = _product_rng("reviews", pid)
        if rng.random() >= 0.35:
            continue
        reviewed.append(pid)
        for user_id in rng.sample(shoppers, rng.randint(1, min(5, len(shoppers)))):
            rating = rng.choices([5, 4, 3, 2, 1], weights=[45, 30, 13, 7, 5])[0]
            voters = rng.sample([s for s in shoppers if s != user_id], rng.randint(0, 3))
            rows.append((pid, user_id, rating, rng.choice(REVIEW_TEXT[rating]), False, len(voters),
                         now - dt.timedelta(days=rng.uniform(0, 180))))
            plan.append((rng.sample(review_tag_ids, rng.randint(0, 3)) if review_tag_ids else [], voters))
    if not rows:
        return
    fields = [Review.product, Review.user, Review.rating, Review.content, Review.is_verified_purchase,
              Review.helpful_count, Review.created_at]
    tag_links, votes = [], []
    result = await Review.insert_many(rows, fields=fields).returning(Review.id).tuples().aio_execute()
    for (rid,), (tags, voters) in zip(result, plan):
        tag_links += [(rid, t) for t in tags]
        votes += [(rid, v) for v in voters]
    await _insert_batches(ReviewTagLink, tag_links, [ReviewTagLink.review, ReviewTagLink.tag])
    await _insert_batches(ReviewHelpful, votes, [ReviewHelpful.review, ReviewHelpful.user])
    await db.aio_execute_sql(
        "UPDATE product p SET rating = s.avg, num_ratings = s.n FROM ("
        " SELECT product_id, round(avg(rating), 2) AS avg, count(*) AS n FROM review"
        " WHERE product_id = ANY(%s) GROUP BY product_id) s WHERE s.product_id = p.id", [reviewed])


async def _add_views(products: list[tuple[int, int]], shoppers: list[int], now: dt.datetime) -> None:
    """A few recent views, so "similar" can rank by popularity."""
    rows = []
    for pid, _category_id in products:
        rng = _product_rng("views", pid)
        rows += [(pid, rng.choice(shoppers), now - dt.timedelta(days=rng.uniform(0, 60)))
                 for _ in range(rng.choice([0, 0, 1, 2, 5]))]
    await _insert_batches(ProductView, rows, [ProductView.product, ProductView.user, ProductView.viewed_at])


# --- typed attributes (migration 0024) ---------------------------------------------------

# The demo products' attributes, read from what they already hold: the
# Material and Style lines of their details, their Color variations, and
# their width, depth (length) and height in cm.
_DETAIL_ATTRIBUTES = (("material", "Material", 1), ("style", "Style", 2))
_NUMBER_ATTRIBUTES = (("width", "Width", "width", 4), ("depth", "Depth", "length", 5), ("height", "Height", "height", 6))


async def seed_attributes() -> None:
    """Typed attributes for the demo catalog, idempotent and set-based (a few
    statements whatever the catalog's size): material, style and colour
    (choice), width, depth and height (number, cm); every product gets its
    values. Products that already have an attribute keep theirs. In one
    transaction with the search feed's attribute triggers off, then a new
    search epoch (every web process reloads its index once)."""
    async with transaction(), triggers_off(*_ATTRIBUTE_FEED):
        await _seed_attributes()
    await after_bulk("SELECT search_feed_new_epoch()")


_ATTRIBUTE_FEED = [(table, f"search_feed_attribute_{kind}_{op}")
                   for table, kind in (("product_attribute_value", "values"), ("product_attribute_number", "numbers"))
                   for op in ("insert", "update", "delete")]


async def _seed_attributes() -> None:
    for slug, name, position in _DETAIL_ATTRIBUTES:
        await db.aio_execute_sql("INSERT INTO attribute (name, slug, kind, position) VALUES (%s, %s, 'choice', %s) "
                        "ON CONFLICT (slug) DO NOTHING", (name, slug, position))
        await db.aio_execute_sql(
            "INSERT INTO attribute_value (attribute_id, value, slug, position) "
            "SELECT a.id, v.value, v.slug, v.n - 1 FROM attribute a, (SELECT value, "
            "trim(both '-' from regexp_replace(lower(value), '[^a-z0-9]+', '-', 'g')) AS slug, "
            "row_number() OVER (ORDER BY value) AS n FROM (SELECT DISTINCT trim(substr(line, length(%(label)s) + 2)) "
            "AS value FROM product p, jsonb_array_elements_text(p.product_details) line "
            "WHERE line LIKE %(label)s || ':%%') d) v WHERE a.slug = %(slug)s "
            "ON CONFLICT (attribute_id, slug) DO NOTHING", {"label": name, "slug": slug})
        await db.aio_execute_sql(
            "INSERT INTO product_attribute_value (product_id, value_id, attribute_id) "
            "SELECT p.id, v.id, v.attribute_id FROM product p "
            "CROSS JOIN LATERAL jsonb_array_elements_text(p.product_details) line "
            "JOIN attribute a ON a.slug = %(slug)s "
            "JOIN attribute_value v ON v.attribute_id = a.id AND v.value = trim(substr(line, length(%(label)s) + 2)) "
            "WHERE line LIKE %(label)s || ':%%' AND NOT EXISTS (SELECT 1 FROM product_attribute_value x "
            "WHERE x.product_id = p.id AND x.attribute_id = a.id) ON CONFLICT DO NOTHING",
            {"label": name, "slug": slug})
    await db.aio_execute_sql("INSERT INTO attribute (name, slug, kind, position) VALUES ('Colour', 'colour', 'choice', 3) "
                    "ON CONFLICT (slug) DO NOTHING")
    await db.aio_execute_sql(
        "INSERT INTO attribute_value (attribute_id, value, slug, position) "
        "SELECT a.id, v.value, v.slug, v.n - 1 FROM attribute a, (SELECT value, "
        "trim(both '-' from regexp_replace(lower(value), '[^a-z0-9]+', '-', 'g')) AS slug, "
        "row_number() OVER (ORDER BY value) AS n FROM (SELECT DISTINCT variation AS value FROM product_variation "
        "WHERE variation_type = 'Color' AND variation <> '') d) v WHERE a.slug = 'colour' "
        "ON CONFLICT (attribute_id, slug) DO NOTHING")
    await db.aio_execute_sql(
        "INSERT INTO product_attribute_value (product_id, value_id, attribute_id) "
        "SELECT DISTINCT pv.product_id, v.id, v.attribute_id FROM product_variation pv "
        "JOIN attribute a ON a.slug = 'colour' JOIN attribute_value v ON v.attribute_id = a.id AND v.value = pv.variation "
        "WHERE pv.variation_type = 'Color' AND NOT EXISTS (SELECT 1 FROM product_attribute_value x "
        "WHERE x.product_id = pv.product_id AND x.attribute_id = a.id) ON CONFLICT DO NOTHING")
    for slug, name, column, position in _NUMBER_ATTRIBUTES:
        await db.aio_execute_sql("INSERT INTO attribute (name, slug, kind, unit, position) VALUES (%s, %s, 'number', 'cm', %s) "
                        "ON CONFLICT (slug) DO NOTHING", (name, slug, position))
        await db.aio_execute_sql(
            f"INSERT INTO product_attribute_number (product_id, attribute_id, value) "
            f"SELECT p.id, a.id, p.{column} FROM product p JOIN attribute a ON a.slug = %s "
            f"WHERE p.{column} IS NOT NULL ON CONFLICT DO NOTHING", (slug,))
    await db.aio_execute_sql("ANALYZE attribute, attribute_value, product_attribute_value, product_attribute_number")


SEEDERS["products"] = seed_products
