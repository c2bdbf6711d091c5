"""Product search that forgives typos the way a search engine does.

The rules (after Meilisearch), per query word:

- a word shorter than ``SEARCH_TYPOS_ONE_FROM`` letters (5) must be spelt
  right, one of 5 to 8 letters may have one typo, one of ``SEARCH_TYPOS_TWO_FROM``
  letters (9) or more two; a typo is an insertion, deletion, substitution or
  swap of two adjacent letters (Damerau-Levenshtein), and a typo on the
  first letter counts double;
- the last word of the query also matches as a prefix (``q=c``, ``q=ergo``),
  so a search box can search as the shopper types;
- accents and case do not matter (``café`` = ``Cafe``) and stop words
  (``the``, ``and``) are dropped: they never decide a match.

How: PostgreSQL splits and folds the query as it did the products' search
documents (``search_fold`` and the ``catalog`` text search configuration,
migration 0007) and looks each word's typo candidates up in the lexicon of
the catalog's words (product, category and tag names) through its deletion
index; the few candidates are checked here (``typo_cost``). Full-text search
then runs on the expansion: every query word must match one of its spellings.

Ranking: fewer typos first (exact, then one, then two), then where the words
matched (all in the name or SKU, then name, category or tags, then anywhere
including the description), then popularity (number of ratings), then id.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import settings
from models.core.db import fetch_prepared

MAX_WORDS = 6
MAX_CHARS = 200

# The query's words, folded and split as the products were, each with the
# lexicon words its own deletions lead to (candidates within its typo budget).
_EXPAND_SQL = """WITH w AS (
    SELECT t.lexeme AS word, t.positions[1] AS pos
    FROM unnest(to_tsvector('catalog', search_fold(%(q)s))) t ORDER BY 2 LIMIT %(max_words)s)
SELECT w.word, w.pos, c.words, c.ns,
  (SELECT n FROM search_word x WHERE x.word = w.word),
  (SELECT sum(x.n) FROM search_word x WHERE x.word >= w.word AND x.word < w.word || '~'
     AND x.word LIKE w.word || '%%')::bigint,
  (SELECT sum(pc.n) FROM product_count pc)::bigint
FROM w, LATERAL (SELECT array_agg(s.word ORDER BY s.word) AS words, array_agg(s.n ORDER BY s.word) AS ns
  FROM search_word s WHERE s.word IN (
    SELECT v.word FROM search_word_variant v
    WHERE length(w.word) >= %(one)s AND v.word <> w.word AND v.variant IN (
        SELECT search_deletes(w.word, CASE WHEN length(w.word) >= %(two)s THEN 2 ELSE 1 END)))) c
ORDER BY w.pos"""


def allowed_typos(word: str) -> int:
    if len(word) >= settings.SEARCH_TYPOS_TWO_FROM:
        return 2
    if len(word) >= settings.SEARCH_TYPOS_ONE_FROM:
        return 1
    return 0


def damerau_levenshtein(a: str, b: str) -> int:
    """Edit distance with adjacent swaps (optimal string alignment)."""
    if a == b:
        return 0
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def typo_cost(query_word: str, word: str) -> int:
    """Typos between a query word and a catalog word; one on the first letter counts double."""
    distance = damerau_levenshtein(query_word, word)
    if distance and query_word[:1] != word[:1]:
        distance += 1
    return distance


def _lexeme(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


@dataclass
class QueryWord:
    word: str
    prefix: bool  # the query's last word: any word starting with it matches too
    typos: dict[int, list[str]] = field(default_factory=dict)  # 1 or 2 -> catalog words that far
    in_names: float = 1.0  # share of the products whose names use one of its spellings (about)

    def spellings(self, weights: str = "") -> list[str]:
        """tsquery alternatives for this word: itself (and its prefix), then its typo'd forms."""
        exact = [_lexeme(self.word) + (":" + weights if weights else "")]
        if self.prefix:
            exact.append(_lexeme(self.word) + ":*" + weights)
        return exact + [_lexeme(w) + (":" + weights if weights else "") for n in (1, 2) for w in self.typos.get(n, [])]

    def tsquery(self, typos: int) -> str | None:
        """Exactly this word (typos=0, with its prefix), or its forms ``typos`` away; None if none."""
        if typos == 0:
            return " | ".join(self.spellings()[:2 if self.prefix else 1])
        words = self.typos.get(typos)
        return " | ".join(_lexeme(w) for w in words) if words else None


@dataclass
class SearchQuery:
    text: str
    words: list[QueryWord]

    def in_names(self) -> float:
        """About the share of products with every word in the name (as if the words were independent)."""
        share = 1.0
        for w in self.words:
            share *= w.in_names
        return share

    def fewer_typos_than(self, n: int) -> str:
        """A tsquery for the products matching with fewer than ``n`` (1 or 2) typos in all."""
        exact = ["(" + w.tsquery(0) + ")" for w in self.words]
        if n == 1:
            return " & ".join(exact)
        alternatives = []
        for i, word in enumerate(self.words):
            one = word.tsquery(1)
            this = "(" + word.tsquery(0) + (" | " + one if one else "") + ")"
            alternatives.append("(" + " & ".join(exact[:i] + [this] + exact[i + 1:]) + ")")
        return " | ".join(alternatives)

    def matching(self, weights: str = "") -> str:
        """Every word in one of its spellings (in fields ``weights``, e.g. "A")."""
        return " & ".join("(" + " | ".join(w.spellings(weights)) + ")" for w in self.words)


# --- the query's words without a round trip (the in-process index) ---------------------------

# PostgreSQL's English stop words (tsearch_data/english.stop), dropped by the
# ``catalog`` configuration; tests/domain/test_search_engine.py checks the list.
STOP_WORDS = frozenset("""i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
she her hers herself it its itself they them their theirs themselves what which who whom this that these those am
is are was were be been being have has had having do does did doing a an the and but if or because as until while
of at by for with about against between into through during before after above below to from up down in out on off
over under again further then once here there when where why how all any both each few more most other some such
no nor not only own same so than too very s t can will just don should now""".split())
# Text whose words PostgreSQL's parser splits by the rules below (letters and
# digits; search_fold turns "-", "_" and "/" into spaces): a run of ASCII
# letters and digits is one word (asciiword, uint, numword), except that a run
# starting with digits, "e" and digits is a number in scientific notation
# (sfloat: "7e3" of "7e3x", "32e0" of "32e0c6b2") and its rest a word of its own.
# Anything else (accents, apostrophes, dots, "@", "+"…) is left to PostgreSQL.
# tests/domain/test_search_engine.py checks this against ts_debug on a
# generated corpus of awkward names and SKUs.
_PLAIN = re.compile(r"[A-Za-z0-9\s_/-]*")
_WORD = re.compile(r"[a-z0-9]+")
_SFLOAT = re.compile(r"([0-9]+e[0-9]+)(.*)", re.S)


def _parser_words(run: str) -> list[str]:
    """PostgreSQL's tokens of a run of ASCII letters and digits."""
    number = _SFLOAT.fullmatch(run)
    if number is None:
        return [run]
    return [number.group(1), number.group(2)] if number.group(2) else [number.group(1)]


def plain_words(text: str) -> list[str] | None:
    """The query's words as ``to_tsvector('catalog', search_fold(text))`` gives
    them (first occurrence order, stop words dropped, at most ``MAX_WORDS``),
    for plain ASCII text; None for anything else (accents, apostrophes,
    dots…), which PostgreSQL splits instead."""
    text = text.replace("\x00", "").strip()[:MAX_CHARS]
    if not _PLAIN.fullmatch(text):
        return None
    words: list[str] = []
    for run in _WORD.findall(text.lower()):
        for word in _parser_words(run) if run[0].isdigit() and "e" in run else (run,):
            if word not in STOP_WORDS and word not in words:
                words.append(word)
    return words[:MAX_WORDS]


async def pg_words(text: str) -> list[str]:
    """The query's words as PostgreSQL's parser splits them (one query)."""
    rows = await fetch_prepared("SELECT t.lexeme FROM unnest(to_tsvector('catalog', search_fold(%(q)s))) t "
                                "ORDER BY t.positions[1] LIMIT %(max_words)s",
                                {"q": text.replace("\x00", "").strip()[:MAX_CHARS], "max_words": MAX_WORDS})
    return [r[0] for r in rows]


def query_from_index(text: str, words: list[str], index: Any) -> SearchQuery | None:
    """The query's words with their typo'd forms from the index's lexicon
    (models/catalog/engine.py): what ``parse`` reads from PostgreSQL."""
    if not words:
        return None
    out = []
    for i, word in enumerate(words):
        qw = QueryWord(word, prefix=i == len(words) - 1)
        budget = allowed_typos(word)
        if len(word) >= settings.SEARCH_TYPOS_ONE_FROM:
            for candidate in sorted(index.candidates(word, budget)):
                cost = typo_cost(word, candidate)
                if 0 < cost <= budget:
                    qw.typos.setdefault(cost, []).append(candidate)
        out.append(qw)
    return SearchQuery(text, out)


async def parse(text: str | None) -> SearchQuery | None:
    """The query's words with their typo'd forms from the lexicon (one query);
    None when nothing is left to search for (blank, punctuation, stop words only)."""
    text = (text or "").replace("\x00", "").strip()[:MAX_CHARS]
    if not text:
        return None
    rows = await fetch_prepared(_EXPAND_SQL, {"q": text, "max_words": MAX_WORDS,
                                              "one": settings.SEARCH_TYPOS_ONE_FROM,
                                              "two": settings.SEARCH_TYPOS_TWO_FROM})
    if not rows:
        return None
    words = []
    for i, (word, _pos, candidates, counts, known, known_prefix, products) in enumerate(rows):
        lexicon = dict(zip(candidates or [], counts or []))
        qw = QueryWord(word, prefix=i == len(rows) - 1)
        budget = allowed_typos(word)
        for candidate in sorted(lexicon):
            cost = typo_cost(word, candidate)
            if 0 < cost <= budget:
                qw.typos.setdefault(cost, []).append(candidate)
        # How many names (and category or tag names) use one of its spellings, of how many products.
        used = (known_prefix if qw.prefix else known) or 0
        used += sum(lexicon.get(w, 0) for n in (1, 2) for w in qw.typos.get(n, []))
        qw.in_names = min(1.0, used / max(products or 0, 1))
        words.append(qw)
    return SearchQuery(text, words)


# ORDER BY for ``hits``: fewer typos, better fields, more popular, newer id.
RANK_ORDER = "h.typos, h.field, h.pop DESC, h.id DESC"


def _rank_sql(query: SearchQuery, params: dict[str, Any]) -> tuple[list[str], str, str]:
    """(the ``s`` columns, the typos expression, the field expression) on ``p``."""
    params["s_all"] = query.matching()
    params["s_a"] = query.matching("A")
    params["s_ab"] = query.matching("AB")
    columns = ["%(s_all)s::tsquery AS q_all", "%(s_a)s::tsquery AS q_a", "%(s_ab)s::tsquery AS q_ab"]
    typos = []
    for i, word in enumerate(query.words):
        params[f"s_{i}_0"], params[f"s_{i}_1"] = word.tsquery(0), word.tsquery(1)
        columns += [f"%(s_{i}_0)s::tsquery AS q_{i}_0", f"%(s_{i}_1)s::tsquery AS q_{i}_1"]
        # A match that is neither exact nor one typo away is two away.
        typos.append(f"CASE WHEN p.search_vector @@ s.q_{i}_0 THEN 0 WHEN p.search_vector @@ s.q_{i}_1 THEN 1 "
                     "ELSE 2 END")
    field = "CASE WHEN p.search_vector @@ s.q_a THEN 0 WHEN p.search_vector @@ s.q_ab THEN 1 ELSE 2 END"
    return columns, " + ".join(typos), field


def hits_sql(query: SearchQuery, conditions: str, params: dict[str, Any]) -> str:
    """CTEs ending in ``hits(id, typos, field, pop)``: the products meeting
    ``conditions`` that match ``query``. Adds its parameters to ``params``.

    ``conditions`` are on ``p``, here ``product_search`` (migration 0007: the
    columns a search filters and ranks on, kept by triggers): status,
    category_id, price, stock_quantity, num_ratings. The statement's shape
    depends only on the number of words, so it prepares well.
    """
    columns, typos, field = _rank_sql(query, params)
    return (f"s AS (SELECT {', '.join(columns)}), "
            f"hits AS MATERIALIZED (SELECT p.id, {typos} AS typos, {field} AS field, "
            f"p.num_ratings AS pop FROM s, product_search p WHERE {conditions} AND p.search_vector @@ s.q_all)")


# The popularity walk (``page_sql``): how many of the most popular products it
# ranks, and the deepest page end (offset + limit) it serves.
WALK_ROWS = 2000
WALK_MAX_END = 120
# A total above this many matches, on a page the walk serves, is an estimate.
EXACT_COUNT = 1000


def page_sql(query: SearchQuery, conditions: str, params: dict[str, Any], walk: str | None) -> str:
    """CTEs ending in ``pg(id, typos, field, pop, total)``: the page
    (``limit``, ``offset``) of the matches most relevant first (``RANK_ORDER``),
    each row carrying the number of matches.

    With ``walk``, the ``WALK_ROWS`` most popular products meeting
    ``conditions`` are ranked first (index ``product_search_popularity``,
    migration 0010). Take the fewest typos t among the walked matches with
    every word in the name: the matches of tier (t typos, name) come out of
    the walk in ranking order, so when it finds ``offset + limit`` of them and
    no product at all matches with fewer than t typos (an index lookup for
    t = 1 or 2), they are the page's rows exactly and no other match is
    ranked: the matches are only counted. Otherwise (a rare word, a deep
    page) every match is ranked, as without ``walk``. ``walk`` suits
    conditions that most products meet (status), not a narrow category.
    """
    columns, typos, field = _rank_sql(query, params)
    matches = f"FROM s, product_search p WHERE {conditions} AND p.search_vector @@ s.q_all"
    ranked = f"p.id, {typos} AS typos, {field} AS field, p.num_ratings AS pop"
    if not walk:
        return (f"s AS (SELECT {', '.join(columns)}), hits AS MATERIALIZED (SELECT {ranked} {matches}), "
                "total AS MATERIALIZED (SELECT count(*) AS n FROM hits), "
                f"pg AS (SELECT h.*, (SELECT n FROM total) AS total FROM hits h ORDER BY {RANK_ORDER} "
                "LIMIT %(limit)s OFFSET %(offset)s)")
    params["walk"], params["end"] = WALK_ROWS, params["limit"] + params["offset"]
    params["exact"] = EXACT_COUNT
    params["s_lt1"], params["s_lt2"] = query.fewer_typos_than(1), query.fewer_typos_than(2)
    columns += ["%(s_lt1)s::tsquery AS q_lt1", "%(s_lt2)s::tsquery AS q_lt2"]
    fewer = f"FROM s, product_search p WHERE {conditions} AND p.search_vector @@ s.q_lt"
    return (
        f"s AS (SELECT {', '.join(columns)}), "
        f"walk AS MATERIALIZED (SELECT {ranked} FROM s, "
        f"(SELECT p.id, p.num_ratings, p.search_vector FROM product_search p WHERE {conditions} "
        "ORDER BY p.num_ratings DESC, p.id DESC LIMIT %(walk)s) p WHERE p.search_vector @@ s.q_all), "
        "tier AS MATERIALIZED (SELECT min(typos) AS t FROM walk WHERE field = 0), "
        "top AS MATERIALIZED (SELECT * FROM walk WHERE field = 0 AND typos = (SELECT t FROM tier) "
        "ORDER BY pop DESC, id DESC LIMIT %(end)s), "
        "full_page AS MATERIALIZED (SELECT (SELECT count(*) FROM top) >= %(end)s AND CASE (SELECT t FROM tier) "
        # count(*) = 0, not NOT EXISTS: a generic plan would look for the first row in a scan of every product.
        f"WHEN 0 THEN TRUE WHEN 1 THEN (SELECT count(*) {fewer}1) = 0 "
        f"WHEN 2 THEN (SELECT count(*) {fewer}2) = 0 ELSE FALSE END AS yes), "
        f"hits AS MATERIALIZED (SELECT {ranked} {matches} AND NOT (SELECT yes FROM full_page)), "
        f"capped AS MATERIALIZED (SELECT count(*) AS n FROM (SELECT 1 {matches} AND (SELECT yes FROM full_page) "
        "LIMIT %(exact)s + 1) x), "
        "total AS MATERIALIZED (SELECT CASE WHEN NOT (SELECT yes FROM full_page) THEN (SELECT count(*) FROM hits) "
        "WHEN (SELECT n FROM capped) <= %(exact)s THEN (SELECT n FROM capped) "
        f"ELSE greatest(%(exact)s + 1, round((SELECT count(*) FROM walk) * {walk}::numeric / "
        f"greatest(least(%(walk)s, {walk}), 1)))::bigint END AS n), "
        "pg AS (SELECT h.*, (SELECT n FROM total) AS total FROM "
        "(SELECT * FROM top WHERE (SELECT yes FROM full_page) UNION ALL SELECT * FROM hits) h "
        f"ORDER BY {RANK_ORDER} LIMIT %(limit)s OFFSET %(offset)s)")
