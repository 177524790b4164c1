"""The shop's own catalog: import, demo data, tenants and product search.

Every catalog source (WooCommerce's product CSV, the shipped demo JSON, later Shopify) is
turned into one intermediate model, :class:`tendero.catalog.parsed.ParsedCatalog`, and written
by one function, :func:`tendero.catalog.writer.write_catalog`: an idempotent, tenant-scoped,
batched upsert keyed by each source's external ids. Reads for the chat engine live in
:mod:`tendero.db.repos.catalog` and return the frozen views of :mod:`tendero.catalog.views`;
:mod:`tendero.catalog.search` is the full-text product search with typo tolerance.
"""
