"""Product search: PostgreSQL full-text search with typo tolerance, no contrib extensions.

The embedded Postgres has no ``pg_trgm`` nor ``unaccent``, so fuzziness is done here:

1. The query is split into words; stop words and chat filler ("do you have", "quiero")
   are dropped.
2. Each word is checked against the tenant's *vocabulary* (words of product names, category
   names, attribute values and SKUs, loaded with one query and cached per tenant for
   :data:`VOCABULARY_TTL_S`). A word that is neither known nor the start of a known word is
   corrected with rapidfuzz (``fuzz.ratio`` >= 80, words of 4+ letters, lengths within 2),
   so "sunglases" becomes "sunglasses". Hyphenated and joined spellings meet: "tshirt"
   also searches "t-shirt" and the reverse.
3. Every word becomes ``'word':*`` in the ``simple`` config (exact lexemes, prefix match) OR
   ``to_tsquery('english', 'word:*')`` (Snowball stems: "hoody" and "hoodies" both reach
   "hoodi"); words are ANDed. The document is the product's ``search_vector`` plus, at query
   time, its SKU, its variants' SKUs and attribute values and its category paths.
4. If all words together find nothing, any word may match (ranked by ``ts_rank``); if that
   finds nothing either, a plain ``ILIKE`` on name and SKUs is tried.

Only published products of the tenant are returned; available ones (a variant sellable now)
come first, then by rank.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.catalog.views import ProductHit

__all__ = [
    "VOCABULARY_TTL_S",
    "ProductHit",
    "Vocabulary",
    "build_vocabulary",
    "expand_query",
    "invalidate_vocabulary",
    "load_vocabulary",
    "search_products",
]

VOCABULARY_TTL_S = 60.0
_MAX_CACHED_TENANTS = 1024
_FUZZY_CUTOFF = 80.0
_FUZZY_MIN_LENGTH = 4
_FUZZY_MAX_LENGTH_GAP = 2
_MAX_TERMS = 8
_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")

# English and Spanish function words and shopping-chat filler; none of them names a product.
_STOPWORDS = frozenset(
    """
    a about all am an and any anything are as at available be buy by can could do does
    for from get got have has hello hey hi how i in is it its i'm like looking me much my
    need of on or please price prices sell selling show some something the there these
    this those to u want what which with would you your
    algo alguna alguno algun algún busco buscando con cual cuál cuanto cuánto de del el en
    es este esta hay hola la las lo los me mi necesito o para por precio que qué quiero
    tiene tienen tienes un una uno unos unas venden y
    """.split()
)


@dataclass(frozen=True)
class Vocabulary:
    """A tenant's search words.

    Attributes:
        forms: a spelling -> the lexemes to search for it (``"tshirt"`` -> ``{"t-shirt"}``).
        words: every spelling, the choices for fuzzy correction.
    """

    forms: dict[str, frozenset[str]]
    words: tuple[str, ...]


_cache: dict[uuid.UUID, tuple[float, Vocabulary]] = {}


def invalidate_vocabulary(tenant_id: uuid.UUID) -> None:
    """Forget the cached vocabulary of a tenant (the catalog writer calls it).

    The cache is per process: another process sees the change within
    :data:`VOCABULARY_TTL_S` seconds.
    """
    _cache.pop(tenant_id, None)


def _tokens(value: str) -> list[str]:
    return _WORD.findall(value.lower())


def build_vocabulary(texts: Iterable[str]) -> Vocabulary:
    """Build a vocabulary from catalog texts (names, categories, attribute values, SKUs)."""
    forms: dict[str, set[str]] = {}
    for value in texts:
        for token in _tokens(value):
            forms.setdefault(token, set()).add(token)
            if "-" in token:
                forms.setdefault(token.replace("-", ""), set()).add(token)
                for part in token.split("-"):
                    if len(part) >= 3:
                        forms.setdefault(part, set()).add(part)
    return Vocabulary(
        forms={word: frozenset(lexemes) for word, lexemes in forms.items()},
        words=tuple(sorted(forms)),
    )


async def load_vocabulary(session: AsyncSession, *, tenant_id: uuid.UUID) -> Vocabulary:
    """The tenant's vocabulary, from the cache or with one query over its catalog."""
    now = time.monotonic()
    cached = _cache.get(tenant_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    rows = await session.execute(
        text(
            """
            SELECT name FROM products WHERE tenant_id = :tenant_id AND published
            UNION SELECT sku FROM products
                WHERE tenant_id = :tenant_id AND published AND sku IS NOT NULL
            UNION SELECT v.sku FROM product_variants v
                JOIN products p ON p.id = v.product_id AND p.tenant_id = :tenant_id
                WHERE v.tenant_id = :tenant_id AND p.published AND v.sku IS NOT NULL
            UNION SELECT a.value FROM product_variants v
                JOIN products p ON p.id = v.product_id AND p.tenant_id = :tenant_id
                CROSS JOIN LATERAL jsonb_each_text(v.attributes) AS a
                WHERE v.tenant_id = :tenant_id AND p.published
            UNION SELECT name FROM categories WHERE tenant_id = :tenant_id
            """
        ),
        {"tenant_id": tenant_id},
    )
    vocabulary = build_vocabulary(row[0] for row in rows)
    if len(_cache) >= _MAX_CACHED_TENANTS:
        _cache.pop(next(iter(_cache)))
    _cache[tenant_id] = (now + VOCABULARY_TTL_S, vocabulary)
    return vocabulary


def _correct(word: str, vocabulary: Vocabulary) -> frozenset[str]:
    """The lexemes to search for one query word (itself, joined forms, a correction)."""
    alternatives = {word}
    joined = word.replace("-", "")
    if joined != word:
        alternatives.add(joined)
    spellings = [word, joined]
    # Plurals: "t-shirts" must reach "t-shirt", which no stemmer sees (hyphenated lexemes
    # are not stemmed); "-s"/"-es" covers English and Spanish regular plurals.
    spellings += [
        form[: -len(end)] for form in (word, joined) for end in ("es", "s") if form.endswith(end)
    ]
    known = [form for form in dict.fromkeys(spellings) if form in vocabulary.forms]
    for form in known:
        alternatives |= vocabulary.forms[form]
    if known or len(word) < _FUZZY_MIN_LENGTH:
        return frozenset(alternatives)
    if any(candidate.startswith(word) for candidate in vocabulary.words):
        return frozenset(alternatives)  # the start of a known word: prefix search covers it
    match = process.extractOne(
        word, vocabulary.words, scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF
    )
    if match is not None and abs(len(match[0]) - len(word)) <= _FUZZY_MAX_LENGTH_GAP:
        alternatives |= vocabulary.forms[match[0]]
    return frozenset(alternatives)


def expand_query(query: str, vocabulary: Vocabulary) -> list[frozenset[str]]:
    """Split ``query`` into terms, each a set of alternative lexemes (at most 8 terms).

    Stop words and one-letter words are dropped; an empty list means nothing to search.
    """
    terms: list[frozenset[str]] = []
    for word in dict.fromkeys(_tokens(query)):
        if word in _STOPWORDS or len(word) < 2:
            continue
        terms.append(_correct(word, vocabulary))
        if len(terms) == _MAX_TERMS:
            break
    return terms


def _tsquery_sql(terms: list[frozenset[str]], *, any_term: bool) -> tuple[str, dict[str, str]]:
    """SQL for a tsquery: alternatives ORed inside a term, terms ANDed (or ORed)."""
    params: dict[str, str] = {}
    parts = []
    for i, alternatives in enumerate(terms):
        options = []
        for j, lexeme in enumerate(sorted(alternatives)):
            # Lexemes only hold letters, digits and hyphens (see _WORD): safe inside quotes.
            literal = f"'{lexeme}':*" if len(lexeme) >= 3 else f"'{lexeme}'"
            params[f"s{i}_{j}"] = literal
            options.append(f"CAST(:s{i}_{j} AS tsquery)")
            if "-" not in lexeme:
                params[f"e{i}_{j}"] = literal
                options.append(f"to_tsquery('english', :e{i}_{j})")
        parts.append("(" + " || ".join(options) + ")")
    return (" || " if any_term else " && ").join(parts), params


_SEARCH_SQL = """
WITH v AS (
    SELECT v.product_id,
           min(v.price) AS min_price,
           max(v.price) AS max_price,
           count(*) AS variant_count,
           bool_or(v.in_stock AND (v.stock_quantity IS NULL OR v.stock_quantity > 0))
               AS available,
           string_agg(concat_ws(' ', v.sku,
               (SELECT string_agg(a.value, ' ') FROM jsonb_each_text(v.attributes) AS a)),
               ' ') AS words
    FROM product_variants v
    WHERE v.tenant_id = :tenant_id
    GROUP BY v.product_id
), c AS (
    SELECT pc.product_id, string_agg(c.path, ' ') AS words
    FROM product_categories pc
    JOIN categories c ON c.id = pc.category_id
    WHERE c.tenant_id = :tenant_id
    GROUP BY pc.product_id
), q AS (
    SELECT {tsquery} AS query
)
SELECT p.id, p.name, p.kind, v.min_price, v.max_price, v.available, v.variant_count,
       ts_rank(d.doc, q.query) AS rank
FROM products p
JOIN v ON v.product_id = p.id
LEFT JOIN c ON c.product_id = p.id
CROSS JOIN q
CROSS JOIN LATERAL (
    SELECT p.search_vector || setweight(
        to_tsvector('simple', concat_ws(' ', p.sku, v.words, c.words)), 'B') AS doc
) d
WHERE p.tenant_id = :tenant_id AND p.published AND d.doc @@ q.query
ORDER BY v.available DESC, rank DESC, p.position, p.name, p.id
LIMIT :limit
"""

_ILIKE_SQL = """
WITH v AS (
    SELECT v.product_id,
           min(v.price) AS min_price,
           max(v.price) AS max_price,
           count(*) AS variant_count,
           bool_or(v.in_stock AND (v.stock_quantity IS NULL OR v.stock_quantity > 0))
               AS available,
           bool_or(v.sku ILIKE :pattern ESCAPE '\\') AS sku_match
    FROM product_variants v
    WHERE v.tenant_id = :tenant_id
    GROUP BY v.product_id
)
SELECT p.id, p.name, p.kind, v.min_price, v.max_price, v.available, v.variant_count
FROM products p
JOIN v ON v.product_id = p.id
WHERE p.tenant_id = :tenant_id AND p.published
  AND (p.name ILIKE :pattern ESCAPE '\\' OR p.sku ILIKE :pattern ESCAPE '\\' OR v.sku_match)
ORDER BY v.available DESC, p.position, p.name, p.id
LIMIT :limit
"""


def _hits(rows: Iterable[Any]) -> list[ProductHit]:
    return [
        ProductHit(
            product_id=row.id,
            name=row.name,
            kind=row.kind,
            min_price=row.min_price,
            max_price=row.max_price,
            available=row.available,
            variant_count=row.variant_count,
        )
        for row in rows
    ]


async def search_products(
    session: AsyncSession, *, tenant_id: uuid.UUID, query: str, limit: int = 10
) -> list[ProductHit]:
    """Find the tenant's published products matching a customer's words.

    Args:
        session: open session (read only).
        tenant_id: the shop; other tenants' products are never returned.
        query: free text as typed ("hoody", "red t-shirt", "sunglases").
        limit: at most this many hits (clamped to 1..50).

    Returns:
        Hits, available products first, then by relevance; ``[]`` when nothing matches.
    """
    limit = max(1, min(limit, 50))
    vocabulary = await load_vocabulary(session, tenant_id=tenant_id)
    terms = expand_query(query, vocabulary)
    if terms:
        passes = [False, True] if len(terms) > 1 else [False]
        for any_term in passes:
            tsquery, params = _tsquery_sql(terms, any_term=any_term)
            rows = await session.execute(
                text(_SEARCH_SQL.format(tsquery=tsquery)),
                {"tenant_id": tenant_id, "limit": limit, **params},
            )
            hits = _hits(rows)
            if hits:
                return hits
    needle = " ".join(query.split())
    if len(needle) < 3 or not terms:
        return []
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await session.execute(
        text(_ILIKE_SQL),
        {"tenant_id": tenant_id, "limit": limit, "pattern": f"%{escaped}%"},
    )
    return _hits(rows)
