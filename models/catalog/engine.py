"""The search index each web process holds: search answered in memory, the way
a search engine does, with PostgreSQL as the source of truth.

Why: ranking a search in SQL reads every match (thousands of products for
"chair") on every request, so its cost grows with the catalog. Here each
word of the catalog has its products as compressed bitmaps (pyroaring), and a
query is a few bitmap unions and intersections (microseconds) plus ONE
statement that reads the page's rows by id.

Ranking for free: a product's place in every bitmap is its rank key
(popularity descending, then id descending, packed in 64 bits), so a bitmap
read in order IS the ranking within a tier, and a page is a slice. Tiers
(fewer typos, then name before category/tags before description) are
bitmaps too, so any page is a few slices and the total is exact.

Kept current by the change feed of migration 0012: the page's statement also
reads ``search_version``; when it differs from the index's, the process
catches up (the logged changes after its version: one statement) and answers
again, so a search never shows what a committed write has changed (read your
writes across processes). The first load, and reloads after a TRUNCATE or a
pruned log, run in a thread with their own connection (nothing blocks the
event loop); ``server.py`` loads the index before it takes requests.

What it holds (about 300 bytes a product): per product its rank key, status,
category, price, stock band and words; per word three bitmaps (in the name or
SKU; in name, category or tags; anywhere); per status, category and stock
band a bitmap; the lexicon (typo candidates) and the category tree. And the
typed attributes (migration 0024, logged in the same change feed): per
attribute value a bitmap, per number attribute a bitmap per distinct value
(in cents), so that attribute filters and facet counts are bitmap
intersections (``facet_counts``; models/catalog/attributes.py).

And the list's orderings (``Orderings``, migration 0026): per product its
price, rating and creation time in numpy columns, and per ordering, built
when first needed after a change, the products in that order. A filtered
list (attribute filters) is then a bitmap of matches whose page is a
partial sort of their ranks, and its statement reads the page's rows by id.
"""
from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import logging
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable

import numpy as np
import psycopg2
from pyroaring import BitMap64

import settings
from models.catalog.tables import LOW_STOCK_MAX
from models.core import cleanup
from models.core.db import db, fetch_all, plain_connect_params

log = logging.getLogger("avantlush.search")

KEY_MAX = 2**31 - 1
# Past this many changed products, catching up is a reload (in a thread).
DELTA_MAX = 5000
ALL_STATUSES = ("published", "draft", "archived")

_A, _B, _ANY = 1, 2, 4
PRICE_BUCKET = 1000  # cents: 10.00 a bucket
# A number attribute's range filter unions its distinct values' bitmaps: by blocks of this many.
NUMBER_BLOCK = 16
ATTRIBUTE_SETS_KEPT = 256
_EPOCH = dt.datetime(1970, 1, 1)


def rank_key(product_id: int, popularity: int) -> int:
    """Ascending keys = popularity descending, then id descending (the search ranking within a tier)."""
    return ((KEY_MAX - max(0, min(popularity, KEY_MAX))) << 32) | (KEY_MAX - product_id)


def key_id(key: int) -> int:
    return KEY_MAX - (key & 0xFFFFFFFF)


def stock_band(stock: int) -> int:
    """SQL ``product_stock_band``: 0 out of stock, 1 low, 2 in stock."""
    return 0 if stock <= 0 else 1 if stock <= LOW_STOCK_MAX else 2


@dataclass(slots=True)
class Doc:
    key: int
    status: str
    category_id: int | None
    price_cents: int
    band: int
    terms: str  # its words, space-separated
    flags: bytes  # per word: 1 in name/SKU, 2 in category/tags, 4 anywhere
    values: tuple = ()  # its attribute value ids
    numbers: tuple = ()  # its (number attribute id, value in cents) pairs


# A word used by a few products keeps them in a sorted tuple (a bitmap object
# costs ~450 bytes however small; a catalog has a word per SKU).
SMALL = 16
_EMPTY: tuple = ()


def _added(keys: Any, key: int) -> Any:
    if isinstance(keys, tuple):
        if key in keys:
            return keys
        if len(keys) < SMALL:
            return tuple(sorted(keys + (key,)))
        keys = BitMap64(keys)
    keys.add(key)
    return keys


def _discarded(keys: Any, key: int) -> Any:
    if isinstance(keys, tuple):
        return tuple(k for k in keys if k != key) if key in keys else keys
    keys.discard(key)
    return keys


def _bitmap(keys: Any) -> BitMap64:
    return BitMap64(keys) if isinstance(keys, tuple) else keys


class Postings:
    """A word's products: anywhere, in the name or SKU (a), in name, category or tags (ab)."""

    __slots__ = ("a", "ab", "any")

    def __init__(self) -> None:
        self.a, self.ab, self.any = _EMPTY, _EMPTY, _EMPTY

    def add(self, key: int, flags: int) -> None:
        self.any = _added(self.any, key)
        if flags & _A:
            self.a = _added(self.a, key)
        if flags & (_A | _B):
            self.ab = _added(self.ab, key)

    def discard(self, key: int) -> bool:
        """Remove ``key``; True when the word has no product left."""
        self.any, self.a, self.ab = _discarded(self.any, key), _discarded(self.a, key), _discarded(self.ab, key)
        return not self.any

    def sets(self) -> tuple[BitMap64, BitMap64, BitMap64]:
        return _bitmap(self.any), _bitmap(self.a), _bitmap(self.ab)


def deletes(word: str, k: int) -> set[str]:
    """``word`` and the strings up to ``k`` (0-2) deletions away (SQL ``search_deletes``)."""
    out = {word}
    if k >= 1:
        ones = {word[:i] + word[i + 1:] for i in range(len(word))}
        out |= ones
        if k >= 2:
            out |= {w[:i] + w[i + 1:] for w in ones for i in range(len(w))}
    return out


def _lexicon_k(word: str) -> int:
    # The lexicon's own deletion neighbourhood (migration 0007, search_word_added).
    return 2 if len(word) >= 7 else 1 if len(word) >= 4 else 0

# The product list's orderings the index pages itself (models/catalog/queries.py
# ORDERINGS: each column ascending, ties by id ascending; "-x" is the exact
# reverse). "name" is not among them: text order is PostgreSQL's collation.
INDEX_ORDERINGS = ("price", "created_at", "rating")
# Past this product id the columns (a slot per id) would be too sparse: the index stops ordering
# and lists take the SQL path.
ORDERINGS_MAX_ID = 20_000_000


def sort_values(price_cents: int, rating_cents: int, num_ratings: int, created: dt.datetime | None) -> tuple:
    """A product's values in ``INDEX_ORDERINGS`` order: price in cents; creation time in
    microseconds; rating then number of ratings (as ``p.rating, p.num_ratings``) in one integer."""
    created_us = 0 if created is None else (created - _EPOCH) // dt.timedelta(microseconds=1)
    return (price_cents, created_us, (rating_cents << 32) | max(0, min(num_ratings, KEY_MAX)))


class Orderings:
    """Each product's sort values (numpy columns, a slot per product id) and,
    per ordering, the products in that order with each one's rank: built
    when a page first needs it after a change that moves a product in it
    (a stock change moves none; a new product, a new price do)."""

    def __init__(self) -> None:
        self.columns = np.zeros((len(INDEX_ORDERINGS), 0), dtype=np.int64)
        self.present = np.zeros(0, dtype=bool)
        self.usable = True  # False past ORDERINGS_MAX_ID
        # ordering -> (ids in order, rank by id: -1 for an id not in it)
        self._built: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.builds = 0  # (tests)

    def set(self, pid: int, values: tuple) -> None:
        if not self.usable:
            return
        if pid > ORDERINGS_MAX_ID:
            self.usable, self._built = False, {}
            self.columns, self.present = self.columns[:, :0], self.present[:0]
            return
        size = len(self.present)
        if pid >= size:
            grown = max(pid + 1, size * 2, 1024)
            columns = np.zeros((len(INDEX_ORDERINGS), grown), dtype=np.int64)
            columns[:, :size] = self.columns
            present = np.zeros(grown, dtype=bool)
            present[:size] = self.present
            self.columns, self.present = columns, present
        for i, name in enumerate(INDEX_ORDERINGS):
            built = self._built.get(name)
            if built is not None and (self.columns[i, pid] != values[i] or pid >= len(built[1]) or built[1][pid] < 0):
                del self._built[name]
            self.columns[i, pid] = values[i]
        self.present[pid] = True

    def unset(self, pid: int) -> None:
        # A built ordering keeps the id: no match names it any more.
        if pid < len(self.present):
            self.present[pid] = False

    def built(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        hit = self._built.get(name)
        if hit is None:
            ids = np.flatnonzero(self.present)
            column = self.columns[INDEX_ORDERINGS.index(name)][ids]
            ordered = ids[np.lexsort((ids, column))].astype(np.int32)  # ids <= ORDERINGS_MAX_ID
            ranks = np.full(len(self.present), -1, dtype=np.int32)
            ranks[ordered] = np.arange(len(ordered), dtype=np.int32)
            hit = self._built[name] = (ordered, ranks)
            self.builds += 1
        return hit

    def page(self, matches: BitMap64, ordering: str, offset: int, limit: int) -> list[int] | None:
        """The ids of ``matches`` (index keys) at ``offset`` in ``ordering``
        (``INDEX_ORDERINGS``, "-" first for the reverse): a partial sort of
        their ranks, O(matches). None when the index does not order."""
        name = ordering.lstrip("-")
        if not self.usable or name not in INDEX_ORDERINGS:
            return None
        ordered, ranks = self.built(name)
        keys = np.frombuffer(matches.to_array(), dtype=np.uint64)
        r = ranks[(KEY_MAX - (keys & 0xFFFFFFFF)).astype(np.int64)]
        last = len(ordered) - 1
        if ordering.startswith("-"):
            r = last - r
        end = min(offset + limit, len(r))
        if offset >= end:
            return []
        if offset > 0 or end < len(r):
            r = np.partition(r, [offset, end - 1] if end - 1 > offset else [offset])
        chosen = np.sort(r[offset:end])
        if ordering.startswith("-"):
            chosen = last - chosen
        return ordered[chosen].tolist()


class Index:
    """One consistent picture of what searches read, at ``version``."""

    def __init__(self, version: int, epoch: int, pruned_to: int) -> None:
        self.version, self.epoch, self.pruned_to = version, epoch, pruned_to
        self.docs: dict[int, Doc] = {}
        self.postings: dict[str, Postings] = {}
        self.statuses: dict[str, BitMap64] = {s: BitMap64() for s in ALL_STATUSES}
        self.bands: dict[int, BitMap64] = {b: BitMap64() for b in (0, 1, 2)}
        self.categories: dict[int | None, BitMap64] = {}
        self.children: dict[int, list[int]] = {}
        self.category_ids: set[int] = set()
        self.lexicon: dict[str, int] = {}
        self.variants: dict[str, set[str]] = {}
        self._terms: list[str] | None = None  # the words in order (for prefixes), built at first use
        self._prefixes: dict[str, tuple[BitMap64, BitMap64, BitMap64]] = {}
        # Typed attributes: value id -> products; number attribute id -> value in cents -> products.
        self.values: dict[int, BitMap64] = {}
        self.numbers: dict[int, dict[int, BitMap64]] = {}
        self._sorted_numbers: dict[int, list[int]] = {}  # distinct values in order, built at first use
        self._number_union: dict[int, BitMap64] = {}  # products having the number attribute, built at first use
        self._number_blocks: dict[int, list[BitMap64]] = {}  # unions of NUMBER_BLOCK values in order, at first use
        # Recent attribute filters' products (emptied by any change to an attribute's products).
        self._attribute_sets: dict[tuple, BitMap64] = {}
        # Prices in buckets of PRICE_BUCKET cents: a price range is a union of whole buckets plus
        # the two edge buckets filtered key by key.
        self.price_buckets: dict[int, BitMap64] = {}
        self.orderings = Orderings()

    # -- building --
    def add(self, pid: int, status: str, category_id: int | None, price: Any, stock: int, popularity: int,
            lexemes: Iterable[str], weights: Iterable[str], values: Iterable[int] | None = None,
            number_attributes: Iterable[int] | None = None, number_cents: Iterable[int] | None = None,
            rating_cents: int = 0, created: dt.datetime | None = None) -> None:
        key = rank_key(pid, popularity)
        terms, flags = [], bytearray()
        for lexeme, w in zip(lexemes, weights):
            f = _ANY | (_A if "A" in w else 0) | (_B if "B" in w else 0)
            post = self.postings.get(lexeme)
            if post is None:
                post = self.postings[lexeme] = Postings()
                if self._terms is not None:
                    bisect.insort(self._terms, lexeme)
            post.add(key, f)
            terms.append(lexeme)
            flags.append(f)
        doc = Doc(key, status, category_id, int(Decimal(price) * 100), stock_band(stock), " ".join(terms),
                  bytes(flags), tuple(values or ()), tuple(zip(number_attributes or (), number_cents or ())))
        self.docs[pid] = doc
        self.orderings.set(pid, sort_values(doc.price_cents, rating_cents or 0, popularity, created))
        self.statuses.setdefault(status, BitMap64()).add(key)
        self.bands[doc.band].add(key)
        self.categories.setdefault(category_id, BitMap64()).add(key)
        self.price_buckets.setdefault(doc.price_cents // PRICE_BUCKET, BitMap64()).add(key)
        for value_id in doc.values:
            self.values.setdefault(value_id, BitMap64()).add(key)
        for attribute_id, cents in doc.numbers:
            self.numbers.setdefault(attribute_id, {}).setdefault(cents, BitMap64()).add(key)
            self._sorted_numbers.pop(attribute_id, None)
            self._number_union.pop(attribute_id, None)
            self._number_blocks.pop(attribute_id, None)
        if (doc.values or doc.numbers) and self._attribute_sets:
            self._attribute_sets.clear()

    def remove(self, pid: int) -> None:
        doc = self.docs.pop(pid, None)
        if doc is None:
            return
        self.orderings.unset(pid)
        key = doc.key
        for lexeme in doc.terms.split(" ") if doc.terms else ():
            post = self.postings.get(lexeme)
            if post is None:
                continue
            if post.discard(key):
                del self.postings[lexeme]
                if self._terms is not None:
                    del self._terms[bisect.bisect_left(self._terms, lexeme)]
        self.statuses[doc.status].discard(key)
        self.bands[doc.band].discard(key)
        self.categories[doc.category_id].discard(key)
        self.price_buckets[doc.price_cents // PRICE_BUCKET].discard(key)
        for value_id in doc.values:
            self.values[value_id].discard(key)
        for attribute_id, cents in doc.numbers:
            by_value = self.numbers[attribute_id]
            by_value[cents].discard(key)
            self._number_union.pop(attribute_id, None)
            self._number_blocks.pop(attribute_id, None)
            if not by_value[cents]:
                del by_value[cents]
                self._sorted_numbers.pop(attribute_id, None)
        if (doc.values or doc.numbers) and self._attribute_sets:
            self._attribute_sets.clear()

    def set_word(self, word: str, n: int | None) -> None:
        """The lexicon word's count (None: gone), with its deletion neighbourhood."""
        if n is None:
            if self.lexicon.pop(word, None) is not None:
                for variant in deletes(word, _lexicon_k(word)):
                    words = self.variants.get(variant)
                    if words is not None:
                        words.discard(word)
                        if not words:
                            del self.variants[variant]
            return
        if word not in self.lexicon:
            for variant in deletes(word, _lexicon_k(word)):
                self.variants.setdefault(variant, set()).add(word)
        self.lexicon[word] = n

    def set_categories(self, rows: Iterable[tuple[int, int | None]]) -> None:
        self.children, self.category_ids = {}, set()
        for cid, parent in rows:
            self.category_ids.add(cid)
            if parent is not None:
                self.children.setdefault(parent, []).append(cid)

    def changed(self) -> None:
        self._prefixes.clear()

    # -- reading --
    def candidates(self, word: str, k: int) -> set[str]:
        """Lexicon words sharing a deletion with ``word`` (within ``k`` deletions), itself excluded."""
        out: set[str] = set()
        for variant in deletes(word, k):
            out |= self.variants.get(variant, set())
        out.discard(word)
        return out

    def terms_with_prefix(self, prefix: str) -> list[str]:
        if self._terms is None:
            self._terms = sorted(self.postings)
        terms = self._terms
        start = bisect.bisect_left(terms, prefix)
        end = bisect.bisect_left(terms, prefix + "\U0010ffff")
        return terms[start:end]

    def prefix_sets(self, prefix: str) -> tuple[BitMap64, BitMap64, BitMap64]:
        """(anywhere, in name, in name/category/tags) of the words starting with ``prefix``."""
        hit = self._prefixes.get(prefix)
        if hit is None:
            sets = [self.postings[t].sets() for t in self.terms_with_prefix(prefix)]
            hit = (BitMap64.union(BitMap64(), *(s[0] for s in sets)),
                   BitMap64.union(BitMap64(), *(s[1] for s in sets)),
                   BitMap64.union(BitMap64(), *(s[2] for s in sets)))
            if len(self._prefixes) > 512:
                self._prefixes.clear()
            self._prefixes[prefix] = hit
        return hit

    def subtree(self, category_id: int) -> BitMap64:
        """The products of a category and its descendants (a cycle stops)."""
        if category_id not in self.category_ids:
            return BitMap64()
        seen, todo = {category_id}, [category_id]
        while todo:
            for child in self.children.get(todo.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        empty = BitMap64()
        return BitMap64.union(empty, *(self.categories.get(c, empty) for c in seen))

    def price_of(self, key: int) -> int:
        return self.docs[key_id(key)].price_cents

    def allowed(self, statuses: Iterable[str], category_id: int | None = None,
                bands: Iterable[int] | None = None) -> BitMap64:
        """The products a list's filters let through (search aside)."""
        empty = BitMap64()
        out = BitMap64.union(empty, *(self.statuses.get(s, empty) for s in statuses))
        if bands is not None:
            out &= BitMap64.union(empty, *(self.bands[b] for b in bands))
        if category_id is not None:
            out &= self.subtree(category_id)
        return out

    # -- typed attributes --
    def _number_values(self, attribute_id: int) -> list[int]:
        ordered = self._sorted_numbers.get(attribute_id)
        if ordered is None:
            ordered = self._sorted_numbers[attribute_id] = sorted(self.numbers.get(attribute_id, {}))
        return ordered

    def _having(self, attribute_id: int) -> BitMap64:
        """The products having a number attribute."""
        having = self._number_union.get(attribute_id)
        if having is None:
            having = self._number_union[attribute_id] = BitMap64.union(
                BitMap64(), *self.numbers.get(attribute_id, {}).values())
        return having

    def _values_union(self, attribute_id: int, start: int, end: int) -> BitMap64:
        """The products whose value of a number attribute is among its distinct
        values ``start:end`` (in order): whole blocks of NUMBER_BLOCK values
        from their cached unions, the values at the edges one by one."""
        ordered, by_value = self._number_values(attribute_id), self.numbers.get(attribute_id, {})
        blocks = self._number_blocks.get(attribute_id)
        if blocks is None:
            blocks = self._number_blocks[attribute_id] = [
                BitMap64.union(BitMap64(), *(by_value[c] for c in ordered[i:i + NUMBER_BLOCK]))
                for i in range(0, len(ordered) - NUMBER_BLOCK + 1, NUMBER_BLOCK)]
        parts, i = [], start
        while i < end:
            if i % NUMBER_BLOCK == 0 and i + NUMBER_BLOCK <= end:
                parts.append(blocks[i // NUMBER_BLOCK])
                i += NUMBER_BLOCK
            else:
                parts.append(by_value[ordered[i]])
                i += 1
        return BitMap64.union(BitMap64(), *parts)

    def attribute_set(self, f: Any) -> BitMap64:
        """The products an attribute filter (models/catalog/attributes.py
        AttrFilter) lets through. Kept for the next request with the same
        filter until an attribute's products change: the caller must not change it."""
        cache_key = (f.attribute_id, f.kind, f.key())
        hit = self._attribute_sets.get(cache_key)
        if hit is not None:
            return hit
        empty = BitMap64()
        if f.kind == "choice":
            out = BitMap64.union(empty, *(self.values.get(v, empty) for v in f.value_ids))
        else:
            ordered = self._number_values(f.attribute_id)
            start = 0 if f.low is None else bisect.bisect_left(
                ordered, int((f.low * 100).to_integral_value("ROUND_CEILING")))
            end = len(ordered) if f.high is None else bisect.bisect_right(
                ordered, int((f.high * 100).to_integral_value("ROUND_FLOOR")))
            end = max(start, end)
            if start + len(ordered) - end < end - start:  # fewer values outside the range: take them away
                out = self._having(f.attribute_id) - (self._values_union(f.attribute_id, 0, start)
                                                      | self._values_union(f.attribute_id, end, len(ordered)))
            else:
                out = self._values_union(f.attribute_id, start, end)
        if len(self._attribute_sets) >= ATTRIBUTE_SETS_KEPT:
            self._attribute_sets.pop(next(iter(self._attribute_sets)))
        self._attribute_sets[cache_key] = out
        return out

    def facet_counts(self, base: BitMap64, filters: list, choice_values: dict[int, list[int]],
                     number_attributes: list[int]) -> tuple[dict[int, int], dict[int, tuple], int]:
        """Facet counts over ``base`` (the query's products before attribute
        filters): per value of ``choice_values`` (attribute id -> value ids)
        and per number attribute (count, min, max in cents), each attribute's
        own filter left out; and the total with every filter. As the SQL twin
        ``attributes.facets_sql``."""
        sets = {f.attribute_id: self.attribute_set(f) for f in filters}
        everything = base
        for s in sets.values():
            everything = everything & s

        def without(attribute_id: int) -> BitMap64:
            if attribute_id not in sets:
                return everything
            out = base
            for other, s in sets.items():
                if other != attribute_id:
                    out = out & s
            return out

        values: dict[int, int] = {}
        for attribute_id, value_ids in choice_values.items():
            scope = without(attribute_id)
            empty = BitMap64()
            for value_id in value_ids:
                values[value_id] = scope.intersection_cardinality(self.values.get(value_id, empty)) if scope else 0
        numbers: dict[int, tuple] = {}
        for attribute_id in number_attributes:
            scope = without(attribute_id)
            by_value = self.numbers.get(attribute_id, {})
            ordered = self._number_values(attribute_id)
            having = self._having(attribute_id)
            count = scope.intersection_cardinality(having) if scope else 0
            if not count:
                numbers[attribute_id] = (0, None, None)
                continue
            low = next(c for c in ordered if not scope.isdisjoint(by_value[c]))
            high = next(c for c in reversed(ordered) if not scope.isdisjoint(by_value[c]))
            numbers[attribute_id] = (count, low, high)
        return values, numbers, len(everything)

    def price_set(self, low: int | None, high: int | None) -> BitMap64:
        """The products priced within [low, high] cents (None: unbounded)."""
        lo, hi = -1 if low is None else low, 2**63 if high is None else high
        first, last = max(lo, 0) // PRICE_BUCKET, hi // PRICE_BUCKET
        inner, edges = [], []
        for bucket, keys in self.price_buckets.items():
            if first < bucket < last:
                inner.append(keys)
            elif bucket == first or bucket == last:
                edges.append(keys)
        out = BitMap64.union(BitMap64(), *inner)
        for keys in edges:
            out |= BitMap64(k for k in keys if lo <= self.price_of(k) <= hi)
        return out

    def matching(self, query: Any, allowed: BitMap64, price: tuple[int | None, int | None] = (None, None)) -> BitMap64:
        """The products among ``allowed`` matching ``query`` (None: all of them) within the price range (cents)."""
        matches = allowed
        if query is not None:
            for exact, one, two, _a, _ab in (self._spelling_sets(w) for w in query.words):
                matches = matches & (exact | one | two)
                if not matches:
                    return matches
        low, high = price
        if low is not None or high is not None:
            matches = matches & self.price_set(low, high)
        return matches

    def _spelling_sets(self, word: Any) -> tuple[BitMap64, BitMap64, BitMap64, BitMap64, BitMap64]:
        """(exact or prefix, one typo, two typos, in names, in names/categories/tags) of a query word."""
        empty = BitMap64()
        if word.prefix:
            exact, a, ab = self.prefix_sets(word.word)
        else:
            post = self.postings.get(word.word)
            exact, a, ab = post.sets() if post is not None else (empty, empty, empty)
        typo_sets = []
        for n in (1, 2):
            typo_sets.append([self.postings[t].sets() for t in word.typos.get(n, ()) if t in self.postings])
        one = BitMap64.union(empty, *(s[0] for s in typo_sets[0]))
        two = BitMap64.union(empty, *(s[0] for s in typo_sets[1]))
        typos = typo_sets[0] + typo_sets[1]
        a = BitMap64.union(a, *(s[1] for s in typos))
        ab = BitMap64.union(ab, *(s[2] for s in typos))
        return exact, one, two, a, ab

    def rank(self, query: Any, allowed: BitMap64, offset: int, limit: int,
             price: tuple[int | None, int | None] = (None, None)) -> tuple[int, list[int]]:
        """(number of matches, the ids of the page) of ``query`` among
        ``allowed``, ranked as models/catalog/search.py says: fewer typos,
        then every word in the name (or SKU), then in name/category/tags,
        then anywhere; then popularity, then id, both descending."""
        words = [self._spelling_sets(w) for w in query.words]
        matches = allowed
        for exact, one, two, _a, _ab in words:
            matches = matches & (exact | one | two)
            if not matches:
                return 0, []
        low, high = price
        if low is not None or high is not None:
            matches = matches & self.price_set(low, high)
        total = len(matches)
        names, wider = matches, matches
        for _exact, _one, _two, a, ab in words:
            names = names & a
            wider = wider & ab
        fields = [names, wider - names, matches - wider]
        tiers: dict[int, BitMap64] = {0: matches}
        for exact, one, _two, _a, _ab in words:
            costs = (matches & exact, (matches & one) - exact)
            rest = matches - costs[0] - costs[1]
            step: dict[int, BitMap64] = {}
            for typos, ids in tiers.items():
                for extra, share in enumerate((costs[0], costs[1], rest)):
                    part = ids & share
                    if part:
                        step[typos + extra] = step[typos + extra] | part if typos + extra in step else part
            tiers = step
        page: list[int] = []
        for typos in sorted(tiers):
            for field in fields:
                tier = tiers[typos] & field
                size = len(tier)
                if offset >= size:
                    offset -= size
                    continue
                take = tier[offset:offset + limit - len(page)]
                page.extend(key_id(k) for k in take)
                offset = 0
                if len(page) >= limit:
                    return total, page
        return total, page


# --- loading and catching up ---------------------------------------------------------------

# What the index holds of a product_search row ``p``: Index.add's arguments after the id.
_DOC_COLUMNS = """p.status, p.category_id, p.price::text, p.stock_quantity, p.num_ratings,
    ARRAY(SELECT u.lexeme FROM unnest(p.search_vector) u),
    ARRAY(SELECT array_to_string(u.weights, '') FROM unnest(p.search_vector) u),
    ARRAY(SELECT x.value_id FROM product_attribute_value x WHERE x.product_id = p.id),
    ARRAY(SELECT n.attribute_id FROM product_attribute_number n WHERE n.product_id = p.id ORDER BY n.attribute_id),
    ARRAY(SELECT (n.value * 100)::bigint FROM product_attribute_number n WHERE n.product_id = p.id
          ORDER BY n.attribute_id),
    (p.rating * 100)::int, p.created_at"""
_PRODUCTS_SQL = f"SELECT p.id, {_DOC_COLUMNS} FROM product_search p"

_VERSION_SQL = "SELECT version, epoch, pruned_to FROM search_version"


def _load() -> Index:
    """A whole index from one snapshot (runs in a thread, on its own connection)."""
    params = plain_connect_params()
    conn = psycopg2.connect(dbname=db.database, **params)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute(_VERSION_SQL)
            row = cur.fetchone()
            if row is None:
                raise LookupError("no search version")
            index = Index(*row)
            cur.execute("SELECT word, n FROM search_word")
            for word, n in cur:
                index.set_word(word, n)
            cur.execute("SELECT id, parent_id FROM category")
            index.set_categories(cur.fetchall())
        with conn.cursor(name="search_index_load") as cur:  # streamed, not all in memory at once
            cur.itersize = 5000
            cur.execute(_PRODUCTS_SQL)
            for (pid, status, category_id, price, stock, popularity, lexemes, weights, values, attrs, cents, rating,
                 created) in cur:
                index.add(pid, status, category_id, price, stock, popularity, lexemes, weights, values, attrs, cents,
                          rating, created)
        conn.rollback()
        return index
    finally:
        conn.close()


_DELTA_SQL = f"""WITH ch AS (SELECT DISTINCT kind, product_id, word FROM search_change
    WHERE version > %(since)s AND version <= %(upto)s LIMIT {DELTA_MAX + 1})
SELECT 'p', c.product_id, {_DOC_COLUMNS}, NULL::text, NULL::int
FROM ch c LEFT JOIN product_search p ON p.id = c.product_id WHERE c.kind = 'p'
UNION ALL SELECT 'w', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, c.word, s.n
FROM ch c LEFT JOIN search_word s ON s.word = c.word WHERE c.kind = 'w'
UNION ALL SELECT 'c', k.id, NULL, k.parent_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM category k WHERE EXISTS (SELECT 1 FROM ch WHERE kind = 'c')
UNION ALL SELECT 'C', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
WHERE EXISTS (SELECT 1 FROM ch WHERE kind = 'c')"""


class Engine:
    """The process's index and how it stays current. ``enabled`` off: every
    search takes the SQL path (models/catalog/search.py)."""

    def __init__(self) -> None:
        self.enabled = settings.SEARCH_INDEX
        self.index: Index | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: Any = None
        self.loads = 0  # full loads so far (tests, logs)

    def _get_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def load(self) -> Index | None:
        """A full load, in a thread; None when there is nothing to load from (no version row)."""
        loop = asyncio.get_running_loop()
        try:
            index = await loop.run_in_executor(None, _load)
        except LookupError:
            self.index = None
            return None
        self.loads += 1
        self.index = index
        log.info("search index loaded: %d products, %d words, version %s", len(index.docs), len(index.postings),
                 index.version)
        return index

    def preload(self) -> Index | None:
        """Load the index in this process before it forks its web processes
        (``server.py``): they share its pages copy-on-write, so each added web
        process costs only what it changes (the catch-ups after its fork) and
        the pages its reads touch, not a whole index. Synchronous: no event loop
        runs yet. ``db.init`` must have been called."""
        if not self.enabled:
            return None
        try:
            index = _load()
        except LookupError:
            return None
        index.terms_with_prefix("")  # build the sorted word list once, before the fork
        index.orderings.built("created_at")  # and the default ordering of the list
        self.index = index
        self.loads += 1
        log.info("search index preloaded for the web processes: %d products, %d words", len(index.docs),
                 len(index.postings))
        return index

    async def ready(self) -> Index | None:
        """The index, loaded if it is not yet (None: search takes the SQL path)."""
        if not self.enabled:
            return None
        if self.index is not None:
            return self.index
        async with self._get_lock():
            if self.index is None:
                rows = await fetch_all(_VERSION_SQL)
                if not rows:
                    return None
                await self.load()
            return self.index

    async def catch_up(self, version: int | None, epoch: int | None, pruned_to: int | None) -> Index | None:
        """Bring the index to ``version`` (read by a page's statement): the
        logged changes since, or a reload when the log cannot tell them."""
        if not self.enabled or version is None:
            self.index = None
            return None
        async with self._get_lock():
            index = self.index
            if index is not None and index.version >= version and index.epoch == epoch:
                return index
            if index is None or index.epoch != epoch or index.version < (pruned_to or 0):
                return await self.load()
            rows = await fetch_all(_DELTA_SQL, {"since": index.version, "upto": version})
            if len(rows) > DELTA_MAX:
                return await self.load()
            for (kind, pid, status, category_id, price, stock, popularity, lexemes, weights, values, attrs, cents,
                 rating, created, word, n) in rows:
                if kind == "p":
                    index.remove(pid)
                    if status is not None:
                        index.add(pid, status, category_id, price, stock, popularity, lexemes, weights, values, attrs,
                                  cents, rating, created)
                elif kind == "w":
                    index.set_word(word, n)
            if any(r[0] == "C" for r in rows):
                index.set_categories([(r[1], r[3]) for r in rows if r[0] == "c"])
            index.version = version
            index.changed()
            return index


engine = Engine()

# Changes kept in the log: a process whose index is further behind reloads it.
FEED_KEEP_VERSIONS = 10000


async def prune_feed() -> int:
    """Clean-up hook: drop logged changes older than ``FEED_KEEP_VERSIONS``
    versions, and say so in ``search_version.pruned_to``."""
    rows = await fetch_all("SELECT version FROM search_version")
    if not rows:
        return 0
    upto = rows[0][0] - FEED_KEEP_VERSIONS
    if upto <= 0:
        return 0
    removed = await fetch_all("WITH gone AS (DELETE FROM search_change WHERE version <= %s RETURNING 1) "
                              "SELECT count(*) FROM gone", (upto,))
    await fetch_all("UPDATE search_version SET pruned_to = greatest(pruned_to, %s) RETURNING 1", (upto,))
    return removed[0][0]


cleanup.register("search_feed", prune_feed)


def _release_on_fork() -> None:
    # A forked web process keeps the index its parent loaded (shared
    # copy-on-write, caught up on its first search) but not the parent's lock.
    engine._lock, engine._lock_loop = None, None


os.register_at_fork(after_in_child=_release_on_fork)
