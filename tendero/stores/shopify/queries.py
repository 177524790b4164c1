"""GraphQL Admin API documents of the Shopify connector, one named operation each.

Every document names its operation (Shopify logs and our fake match on it). Connection
sizes are literals inside nested selections so that :func:`requested_cost` can estimate a
query's cost before it is sent (notes/store-apis.md §1.2).

Field names follow the GraphQL Admin API ``2026-01`` reference on shopify.dev:
``Customer.defaultEmailAddress``/``defaultPhoneNumber`` (``email``/``phone`` are deprecated),
``WebhookSubscriptionInput.uri`` (``callbackUrl`` is deprecated), ``orderCreate`` with
``OrderCreateOrderInput`` (since 2024-10), ``refundCreate`` with the ``@idempotent``
directive (2026-01 changelog "Adding idempotency for inventory adjustments and refund
mutations").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SHOPIFY_API_VERSION = "2026-01"
"""The pinned GraphQL Admin API version (Shopify releases one per quarter)."""

MAX_QUERY_COST = 1000
"""Shopify refuses any single query whose requested cost exceeds this (§1.2)."""

MAX_PAGE_SIZE = 250
"""Connections take at most 250 nodes per page (§1.3)."""

# Connection sizes of nested selections: the cost estimate and page caps depend on them.
VARIANTS_PER_PRODUCT = 20
COLLECTIONS_PER_PRODUCT = 5
LINES_PER_ORDER = 30

_CUSTOMER_FIELDS = """
      id
      firstName
      lastName
      displayName
      defaultEmailAddress { emailAddress }
      defaultPhoneNumber { phoneNumber }
      updatedAt
"""

_PRODUCT_FIELDS = f"""
      id
      title
      descriptionHtml
      status
      featuredMedia {{ preview {{ image {{ url }} }} }}
      updatedAt
      variants(first: {VARIANTS_PER_PRODUCT}) {{
        nodes {{
          id
          sku
          title
          price
          compareAtPrice
          inventoryQuantity
          availableForSale
          inventoryItem {{ tracked }}
          selectedOptions {{ name value }}
        }}
      }}
      collections(first: {COLLECTIONS_PER_PRODUCT}) {{ nodes {{ id }} }}
"""

_MONEY = "shopMoney { amount currencyCode }"

_ORDER_FIELDS = f"""
      id
      name
      email
      phone
      displayFinancialStatus
      displayFulfillmentStatus
      cancelledAt
      closedAt
      currencyCode
      customer {{ id displayName }}
      subtotalPriceSet {{ {_MONEY} }}
      totalShippingPriceSet {{ {_MONEY} }}
      totalTaxSet {{ {_MONEY} }}
      totalDiscountsSet {{ {_MONEY} }}
      totalPriceSet {{ {_MONEY} }}
      shippingAddress {{ name address1 address2 city province zip countryCodeV2 phone }}
      fulfillments {{ trackingInfo {{ number }} }}
      sourceIdentifier
      tags
      customAttributes {{ key value }}
      createdAt
      updatedAt
      lineItems(first: {LINES_PER_ORDER}) {{
        nodes {{
          id
          name
          sku
          quantity
          variant {{ id }}
          product {{ id }}
          originalUnitPriceSet {{ {_MONEY} }}
          originalTotalSet {{ {_MONEY} }}
        }}
      }}
"""

_COLLECTION_FIELDS = """
      id
      title
      updatedAt
"""

_PAGE_INFO = "pageInfo { hasNextPage endCursor }"


def _page_query(name: str, field: str, fields: str) -> str:
    return f"""query {name}($first: Int!, $after: String, $query: String,
    $sortKey: {_SORT_ENUMS[field]}) {{
  {field}(first: $first, after: $after, query: $query, sortKey: $sortKey) {{
    {_PAGE_INFO}
    nodes {{{fields}    }}
  }}
}}"""


_SORT_ENUMS = {
    "customers": "CustomerSortKeys",
    "products": "ProductSortKeys",
    "orders": "OrderSortKeys",
    "collections": "CollectionSortKeys",
}

CUSTOMERS_PAGE = _page_query("CustomersPage", "customers", _CUSTOMER_FIELDS)
PRODUCTS_PAGE = _page_query("ProductsPage", "products", _PRODUCT_FIELDS)
ORDERS_PAGE = _page_query("OrdersPage", "orders", _ORDER_FIELDS)
COLLECTIONS_PAGE = _page_query("CollectionsPage", "collections", _COLLECTION_FIELDS)

PRODUCTS_SEARCH = f"""query ProductsSearch($first: Int!, $query: String!) {{
  products(first: $first, query: $query, sortKey: RELEVANCE) {{
    nodes {{{_PRODUCT_FIELDS}    }}
  }}
}}"""

CUSTOMERS_FIND = f"""query CustomersFind($first: Int!, $query: String!) {{
  customers(first: $first, query: $query) {{
    nodes {{{_CUSTOMER_FIELDS}    }}
  }}
}}"""

ORDERS_FIND = f"""query OrdersFind($first: Int!, $query: String!) {{
  orders(first: $first, query: $query, sortKey: CREATED_AT, reverse: true) {{
    nodes {{{_ORDER_FIELDS}    }}
  }}
}}"""

PRODUCT_GET = f"""query ProductGet($id: ID!) {{
  product(id: $id) {{{_PRODUCT_FIELDS}  }}
}}"""

ORDER_GET = f"""query OrderGet($id: ID!) {{
  order(id: $id) {{{_ORDER_FIELDS}  }}
}}"""

ORDER_TRANSACTIONS = """query OrderTransactions($id: ID!) {
  order(id: $id) {
    id
    transactions(first: 20) { id kind status gateway amountSet { shopMoney { amount } } }
  }
}"""

SHOP_INFO = """query ShopInfo {
  shop { name currencyCode myshopifyDomain primaryDomain { url } }
}"""

ORDER_CREATE = f"""mutation OrderCreate($order: OrderCreateOrderInput!,
    $options: OrderCreateOptionsInput) {{
  orderCreate(order: $order, options: $options) {{
    order {{{_ORDER_FIELDS}    }}
    userErrors {{ field message code }}
  }}
}}"""

DISCOUNT_CREATE = """mutation DiscountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field message code }
  }
}"""

DISCOUNT_BY_CODE = """query DiscountByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) { id }
}"""

REFUND_CREATE = """mutation RefundCreate($input: RefundInput!, $idempotencyKey: String!) {
  refundCreate(input: $input) @idempotent(key: $idempotencyKey) {
    refund { id totalRefundedSet { shopMoney { amount currencyCode } } }
    userErrors { field message }
  }
}"""

WEBHOOKS_LIST = """query WebhookSubscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id topic uri }
  }
}"""

WEBHOOK_CREATE = """mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!,
    $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}"""

BULK_RUN_QUERY = """mutation BulkOperationRunQuery($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}"""

BULK_STATUS = """query BulkOperationStatus($id: ID!) {
  node(id: $id) {
    ... on BulkOperation { id status errorCode objectCount url partialDataUrl }
  }
}"""

# Bulk queries: no page sizes, nested connections become child lines with __parentId (§1.4).
BULK_CUSTOMERS = f"""{{
  customers {{ edges {{ node {{{_CUSTOMER_FIELDS}  }} }} }}
}}"""

BULK_PRODUCTS = """{
  products { edges { node {
    id title descriptionHtml status updatedAt
    featuredMedia { preview { image { url } } }
    variants { edges { node {
      id sku title price compareAtPrice inventoryQuantity availableForSale
      inventoryItem { tracked } selectedOptions { name value }
    } } }
    collections { edges { node { id } } }
  } } }
}"""

BULK_ORDERS = f"""{{
  orders {{ edges {{ node {{
    id name email phone displayFinancialStatus displayFulfillmentStatus cancelledAt closedAt
    currencyCode customer {{ id displayName }}
    subtotalPriceSet {{ {_MONEY} }} totalShippingPriceSet {{ {_MONEY} }}
    totalTaxSet {{ {_MONEY} }} totalDiscountsSet {{ {_MONEY} }} totalPriceSet {{ {_MONEY} }}
    shippingAddress {{ name address1 address2 city province zip countryCodeV2 phone }}
    fulfillments {{ trackingInfo {{ number }} }}
    sourceIdentifier tags customAttributes {{ key value }} createdAt updatedAt
    lineItems {{ edges {{ node {{
      id name sku quantity variant {{ id }} product {{ id }}
      originalUnitPriceSet {{ {_MONEY} }} originalTotalSet {{ {_MONEY} }}
    }} }} }}
  }} }} }}
}}"""

_FIRST_ARG = re.compile(r"(?<![$\w])first:\s*(\$?\w+)")
_ROOT_FIELD = re.compile(r"^\s*(?:query|mutation)\b[^{]*\{\s*(\w+)\s*(\(([^)]*)\))?", re.S)


def _resolve(token: str, variables: Mapping[str, Any]) -> int:
    if token.startswith("$"):
        value = variables.get(token[1:])
        return int(value) if isinstance(value, int) else 0
    return int(token) if token.isdigit() else 0


def requested_cost(document: str, variables: Mapping[str, Any] | None = None) -> int:
    """Estimate Shopify's *requested* cost of a document, in points.

    An approximation of Shopify's calculated query cost (shopify.dev "API rate limits",
    notes/store-apis.md §1.2): a connection at the root costs ``2 + first * (1 + sum of the
    nested connections' first)``; a root field that is not a connection costs 1 (10 for a
    mutation) plus its nested connections' sizes. Nested lists count once, not multiplied
    level by level, which is close enough to pace the client and keep queries under
    :data:`MAX_QUERY_COST`.

    Args:
        document: a GraphQL document of this module.
        variables: its variables (``$first`` is resolved from them).

    Returns:
        The estimated requested cost.
    """
    variables = variables or {}
    match = _ROOT_FIELD.match(document)
    is_mutation = document.lstrip().startswith("mutation")
    root_args = match.group(3) if match and match.group(3) else ""
    root_first = _FIRST_ARG.search(root_args)
    firsts = [_resolve(tok, variables) for tok in _FIRST_ARG.findall(document)]
    if root_first is not None:
        top = _resolve(root_first.group(1), variables)
        nested = sum(firsts[1:])
        return 2 + top * (1 + nested)
    return (10 if is_mutation else 1) + sum(firsts)


def max_first(document: str) -> int:
    """The largest root ``first`` that keeps ``document`` under :data:`MAX_QUERY_COST`."""
    nested = sum(_resolve(tok, {}) for tok in _FIRST_ARG.findall(document)[1:])
    return max(1, min(MAX_PAGE_SIZE, (MAX_QUERY_COST - 2) // (1 + nested)))
