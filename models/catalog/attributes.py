"""Typed product attributes: filters on the product list and search, facet
counts for the current query, and a product's attributes (migration 0024).

Syntax of the filters (query string; slugs of the attribute and its values):

- ``attr_<slug>=<value>,<value>`` for a choice attribute: products with any
  of the values (``attr_material=oak,walnut``);
- ``attr_<slug>_min=<n>`` / ``attr_<slug>_max=<n>`` for a number attribute:
  products whose value lies in the range, bounds included
  (``attr_width_min=50&attr_width_max=120``).

Different attributes combine with AND. An unknown attribute or value, or a
range on a choice attribute, is a 400 naming the valid ones.

Facets (``facets``): for each choice attribute the products per value, and
for each number attribute the count and the min/max, under the current query
(search, category, price, stock, and the attribute filters) — each attribute's
own filter left out of its counts (disjunctive facets: choosing "oak" still
shows how many walnut products there are). ONE statement per answer, cached
per process under the catalog version (``catalog_version``, which every
product and attribute write moves: migrations 0003 and 0024), like search pages.

Triggers: writes of ``attribute``, ``attribute_value``,
``product_attribute_value`` and ``product_attribute_number`` move the catalog
version (0024 catalog_version_attribute*, catalog_version_product_attribute_*).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from models.core.db import fetch_all, fetch_one
from models.core.errors import ValidationFailed

PREFIX = "attr_"
MAX_NUMBER = Decimal("9999999999.99")
# How many attribute parameters one query may carry (each is a condition).
MAX_FILTERS = 20


@dataclass
class AttributeDef:
    id: int
    slug: str
    name: str
    kind: str
    unit: str
    position: int
    values: dict[str, tuple[int, str]] = field(default_factory=dict)  # value slug -> (id, display value)


@dataclass
class AttrFilter:
    """One attribute's filter: value ids (choice) or a range (number)."""

    attribute_id: int
    slug: str
    kind: str
    value_ids: tuple[int, ...] = ()
    low: Decimal | None = None
    high: Decimal | None = None

    def key(self) -> tuple:
        return (self.slug, self.value_ids, self.low, self.high)


# The definitions and the catalog version they were read at (one row of NULLs but the version
# when there are none).
_DEFS_SQL = """SELECT (SELECT version FROM catalog_version), a.* FROM (SELECT 1) one LEFT JOIN LATERAL (
  SELECT a.id, a.slug, a.name, a.kind, a.unit, a.position,
    COALESCE((SELECT json_agg(json_build_array(v.slug, v.id, v.value) ORDER BY v.position, v.id)
              FROM attribute_value v WHERE v.attribute_id = a.id), '[]') AS attribute_values
  FROM attribute a) a ON TRUE ORDER BY a.position, a.id"""


class _Definitions:
    """The attribute definitions, per process, with the catalog version they
    were read at (every attribute write moves it)."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.defs: dict[str, AttributeDef] = {}
        self.loaded = False

    async def get(self, version: int | None) -> dict[str, AttributeDef]:
        """The definitions at catalog ``version`` (read again unless kept at it; None: read again)."""
        if version is not None and version == self.version and self.loaded:
            return self.defs
        return await self.load()

    async def load(self) -> dict[str, AttributeDef]:
        rows = await fetch_all(_DEFS_SQL)
        defs = {r[2]: AttributeDef(r[1], r[2], r[3], r[4], r[5], r[6], {s: (i, v) for s, i, v in r[7]})
                for r in rows if r[1] is not None}
        self.version, self.defs, self.loaded = (rows[0][0] if rows else None), defs, True
        return defs

    def kept(self) -> dict[str, AttributeDef] | None:
        """The definitions as last read (no query), None before the first read. A caller checks
        ``version`` against the catalog version its own statement reads."""
        return self.defs if self.loaded else None


definitions = _Definitions()


def wanted(arguments: Iterable[str]) -> bool:
    """Whether any query parameter is an attribute filter."""
    return any(k.startswith(PREFIX) for k in arguments)


def query_of(arguments: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The attribute filters of a query string as given (``attr_*`` parameters), resolved later
    against the definitions (``parse_filters``)."""
    return tuple(sorted((k, v) for k, v in arguments.items() if k.startswith(PREFIX)))


def _number(name: str, text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(errors={name: ["A valid number is required."]}) from None
    if not value.is_finite() or abs(value) > MAX_NUMBER:
        raise ValidationFailed(errors={name: ["A valid number is required."]})
    return value


def parse_filters(arguments: Mapping[str, str], defs: dict[str, AttributeDef]) -> list[AttrFilter]:
    """The attribute filters of a query string (``attr_*`` parameters); 400 for
    unknown attributes or values (naming the valid ones), bad numbers, or a
    range on a choice attribute. Blank parameters are no filter."""
    found: dict[str, AttrFilter] = {}
    names = sorted(k for k in arguments if k.startswith(PREFIX))
    if len(names) > MAX_FILTERS:
        raise ValidationFailed(errors={"attributes": [f"At most {MAX_FILTERS} attribute filters."]})
    for name in names:
        text = arguments[name].strip()
        if not text:
            continue
        rest = name[len(PREFIX):]
        bound = None
        if rest.endswith(("_min", "_max")) and rest[:-4] in defs:
            rest, bound = rest[:-4], rest[-3:]
        attr = defs.get(rest)
        if attr is None:
            raise ValidationFailed(errors={name: [f"Unknown attribute '{rest}'. Valid attributes: "
                                                  f"{', '.join(defs) or 'none'}."]}, valid_attributes=list(defs))
        f = found.setdefault(attr.slug, AttrFilter(attr.id, attr.slug, attr.kind))
        if attr.kind == "number":
            if bound is None:
                raise ValidationFailed(errors={name: [f"'{attr.slug}' is a number: filter with "
                                                      f"{PREFIX}{attr.slug}_min and {PREFIX}{attr.slug}_max."]})
            value = _number(name, text)
            if bound == "min":
                f.low = value
            else:
                f.high = value
            continue
        if bound is not None:
            raise ValidationFailed(errors={name: [f"'{attr.slug}' is a choice: filter with "
                                                  f"{PREFIX}{attr.slug}=value,value."]})
        slugs = [s.strip().lower() for s in text.split(",") if s.strip()]
        unknown = [s for s in slugs if s not in attr.values]
        if unknown:
            raise ValidationFailed(errors={name: [f"Unknown value '{unknown[0]}' of '{attr.slug}'. Valid values: "
                                                  f"{', '.join(attr.values)}."]}, valid_values=list(attr.values))
        f.value_ids = tuple(sorted({attr.values[s][0] for s in slugs}))
    return [f for f in found.values() if f.value_ids or f.low is not None or f.high is not None]


def condition(f: AttrFilter, n: int, params: dict[str, Any], column: str = "p.id") -> str:
    """The SQL condition of one attribute filter on ``column`` (a product id); its parameters go to ``params``."""
    if f.kind == "choice":
        params[f"av_{n}"] = list(f.value_ids)
        return (f"EXISTS (SELECT 1 FROM product_attribute_value pav WHERE pav.product_id = {column} "
                f"AND pav.value_id = ANY(%(av_{n})s::int[]))")
    params[f"aa_{n}"] = f.attribute_id
    parts = [f"pan.product_id = {column}", f"pan.attribute_id = %(aa_{n})s"]
    if f.low is not None:
        params[f"alo_{n}"] = f.low
        parts.append(f"pan.value >= %(alo_{n})s")
    if f.high is not None:
        params[f"ahi_{n}"] = f.high
        parts.append(f"pan.value <= %(ahi_{n})s")
    return f"EXISTS (SELECT 1 FROM product_attribute_number pan WHERE {' AND '.join(parts)})"


def conditions(filters: list[AttrFilter], params: dict[str, Any], column: str = "p.id") -> str:
    """Every filter's condition, ANDed ('' for none)."""
    return " AND ".join(condition(f, n, params, column) for n, f in enumerate(filters))


# --- facets ------------------------------------------------------------------------------

def facets_sql(base: str, filters: list[AttrFilter], params: dict[str, Any]) -> str:
    """ONE statement: the facet rows for the products of ``base`` (CTEs ending
    in ``base(id)``: the current query without its attribute filters).

    Rows: ('v', attribute id, value id, count, NULL, NULL) per choice value;
    ('n', attribute id, NULL, count, min, max) per number attribute; ('t',
    NULL, NULL, total, NULL, NULL). Each attribute's counts leave its own
    filter out (``CASE`` on the attribute: the other filters' flags).
    """
    flags = [condition(f, n, params, "b.id") for n, f in enumerate(filters)]
    columns = "".join(f", {c} AS f{n}" for n, c in enumerate(flags))
    all_flags = " AND ".join(f"m.f{n}" for n in range(len(flags))) or "TRUE"

    def others(attribute_column: str) -> str:
        if not filters:
            return "TRUE"
        cases = []
        for n, f in enumerate(filters):
            rest = " AND ".join(f"m.f{k}" for k in range(len(filters)) if k != n) or "TRUE"
            params[f"fa_{n}"] = f.attribute_id
            cases.append(f"WHEN %(fa_{n})s THEN {rest}")
        return f"CASE {attribute_column} {' '.join(cases)} ELSE {all_flags} END"

    return (f"WITH {base}, m AS MATERIALIZED (SELECT b.id{columns} FROM base b) "
            "SELECT 'v', pav.attribute_id, pav.value_id, count(*), NULL::numeric, NULL::numeric "
            "FROM m JOIN product_attribute_value pav ON pav.product_id = m.id "
            f"WHERE {others('pav.attribute_id')} GROUP BY pav.attribute_id, pav.value_id "
            "UNION ALL SELECT 'n', pan.attribute_id, NULL, count(*), min(pan.value), max(pan.value) "
            "FROM m JOIN product_attribute_number pan ON pan.product_id = m.id "
            f"WHERE {others('pan.attribute_id')} GROUP BY pan.attribute_id "
            f"UNION ALL SELECT 't', NULL, NULL, count(*), NULL, NULL FROM m WHERE {all_flags}")


def facets_payload(rows: list[tuple], defs: dict[str, AttributeDef], filters: list[AttrFilter]) -> dict[str, Any]:
    """The facet rows as the API answers them: every attribute (in position
    order), its values with their counts (0 included: the shopper sees them),
    and which are selected."""
    by_value: dict[int, int] = {}
    numbers: dict[int, tuple[int, Any, Any]] = {}
    total = 0
    for kind, attribute_id, value_id, n, low, high in rows:
        if kind == "v":
            by_value[value_id] = n
        elif kind == "n":
            numbers[attribute_id] = (n, low, high)
        else:
            total = n
    chosen = {f.slug: f for f in filters}
    out = []
    for attr in defs.values():
        f = chosen.get(attr.slug)
        if attr.kind == "choice":
            selected = set(f.value_ids) if f else set()
            out.append({"slug": attr.slug, "name": attr.name, "kind": "choice", "unit": attr.unit,
                        "param": f"{PREFIX}{attr.slug}",
                        "values": [{"slug": s, "value": v, "count": by_value.get(i, 0), "selected": i in selected}
                                   for s, (i, v) in attr.values.items()],
                        "min": None, "max": None, "count": sum(by_value.get(i, 0) for i, _v in attr.values.values()),
                        "selected_min": None, "selected_max": None})
        else:
            n, low, high = numbers.get(attr.id, (0, None, None))
            out.append({"slug": attr.slug, "name": attr.name, "kind": "number", "unit": attr.unit,
                        "param": f"{PREFIX}{attr.slug}", "values": [],
                        "min": f"{low:.2f}" if low is not None else None,
                        "max": f"{high:.2f}" if high is not None else None, "count": n,
                        "selected_min": f"{f.low:.2f}" if f and f.low is not None else None,
                        "selected_max": f"{f.high:.2f}" if f and f.high is not None else None})
    return {"count": total, "attributes": out}


class FacetCache:
    """Facet answers of this process under the catalog version they were computed at (as ``SearchCache``)."""

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[tuple, tuple[int, dict]] = OrderedDict()

    def get(self, key: tuple, version: int | None) -> dict | None:
        entry = self.entries.get(key)
        if version is None or entry is None or entry[0] != version:
            return None
        self.entries.move_to_end(key)
        return entry[1]

    def put(self, key: tuple, version: int | None, value: dict) -> None:
        if version is None or self.max_entries <= 0:
            return
        self.entries[key] = (version, value)
        self.entries.move_to_end(key)
        while len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)


facet_cache = FacetCache()


# --- a product's attributes -------------------------------------------------------------

# A product's attributes as JSON (the detail read's column): [[slug, name, kind, unit, [[value slug, value]], number]]
PRODUCT_ATTRIBUTES_SQL = """(SELECT COALESCE(json_agg(json_build_array(a.slug, a.name, a.kind, a.unit,
        (SELECT COALESCE(json_agg(json_build_array(v.slug, v.value) ORDER BY v.position, v.id), '[]')
         FROM product_attribute_value x JOIN attribute_value v ON v.id = x.value_id
         WHERE x.product_id = p.id AND x.attribute_id = a.id),
        (SELECT n.value::text FROM product_attribute_number n WHERE n.product_id = p.id AND n.attribute_id = a.id))
    ORDER BY a.position, a.id), '[]')
    FROM attribute a WHERE EXISTS (SELECT 1 FROM product_attribute_value x WHERE x.product_id = p.id
        AND x.attribute_id = a.id)
      OR EXISTS (SELECT 1 FROM product_attribute_number n WHERE n.product_id = p.id AND n.attribute_id = a.id))"""


def product_attributes(raw: list) -> list[dict[str, Any]]:
    return [{"slug": slug, "name": name, "kind": kind, "unit": unit,
             "values": [{"slug": s, "value": v} for s, v in values], "number": number}
            for slug, name, kind, unit, values, number in raw or []]


async def resolve_assignment(spec: Mapping[str, Any]) -> tuple[list[int], list[tuple[int, int]],
                                                               list[tuple[int, Decimal]]]:
    """Staff input ``{"material": ["oak", "Walnut"], "width": "120", "depth": null}``
    (attribute slug -> value slugs or names, or a number; null or [] removes it)
    as (the attributes named, value ids with their attribute, numbers per
    attribute). One query. 400 naming the bad entries."""
    defs = await definitions.get(None)
    named: list[int] = []
    choices: list[tuple[int, int]] = []
    numbers: list[tuple[int, Decimal]] = []
    errors: dict[str, list[str]] = {}
    for slug, given in spec.items():
        attr = defs.get(slug)
        if attr is None:
            errors.setdefault("attributes", []).append(
                f"Unknown attribute '{slug}'. Valid attributes: {', '.join(defs) or 'none'}.")
            continue
        named.append(attr.id)
        if given is None:
            continue
        if attr.kind == "number":
            if isinstance(given, bool) or not isinstance(given, (int, float, str)):
                errors.setdefault("attributes", []).append(f"'{slug}' takes a number.")
                continue
            try:
                value = _number("attributes", str(given))
            except ValidationFailed:
                errors.setdefault("attributes", []).append(f"'{slug}' takes a number.")
                continue
            if value < 0:
                errors.setdefault("attributes", []).append(f"'{slug}' must be 0 or more.")
                continue
            numbers.append((attr.id, value.quantize(Decimal("0.01"))))
            continue
        items = [given] if isinstance(given, str) else given
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            errors.setdefault("attributes", []).append(f"'{slug}' takes a list of values.")
            continue
        by_name = {v.lower(): i for i, v in attr.values.values()}
        for item in items:
            key = item.strip().lower()
            vid = attr.values[key][0] if key in attr.values else by_name.get(key)
            if vid is None:
                errors.setdefault("attributes", []).append(
                    f"Unknown value '{item}' of '{slug}'. Valid values: {', '.join(attr.values)}.")
            else:
                choices.append((vid, attr.id))
    if errors:
        raise ValidationFailed(errors=errors)
    return sorted(set(named)), sorted(set(choices)), numbers


async def set_product_attributes(product_id: int, named: list[int], choices: list[tuple[int, int]],
                                 numbers: list[tuple[int, Decimal]]) -> None:
    """Set a product's values of the attributes ``named`` (others stay), inside
    the caller's transaction: three statements at most."""
    if not named:
        return
    await fetch_one("WITH d1 AS (DELETE FROM product_attribute_value WHERE product_id = %(id)s "
                    "AND attribute_id = ANY(%(named)s::int[]) RETURNING 1), "
                    "d2 AS (DELETE FROM product_attribute_number WHERE product_id = %(id)s "
                    "AND attribute_id = ANY(%(named)s::int[]) RETURNING 1) "
                    "SELECT (SELECT count(*) FROM d1) + (SELECT count(*) FROM d2)", {"id": product_id, "named": named})
    if choices:
        await fetch_one("WITH i AS (INSERT INTO product_attribute_value (product_id, value_id, attribute_id) "
                        "SELECT %s, v, a FROM unnest(%s::int[], %s::int[]) AS x(v, a) RETURNING 1) "
                        "SELECT count(*) FROM i", [product_id, [c[0] for c in choices], [c[1] for c in choices]])
    if numbers:
        await fetch_one("WITH i AS (INSERT INTO product_attribute_number (product_id, attribute_id, value) "
                        "SELECT %s, a, v FROM unnest(%s::int[], %s::numeric[]) AS x(a, v) RETURNING 1) "
                        "SELECT count(*) FROM i", [product_id, [n[0] for n in numbers], [n[1] for n in numbers]])
