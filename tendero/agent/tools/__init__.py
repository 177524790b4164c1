"""The assistant's tools: names of the seed guides, pydantic argument models, one registry.

Each tool is a coroutine ``(ToolContext, args) -> ToolResult``; the model sees each one's
JSON schema (from its argument model) and description. ``run_tool`` is the only way a
tool runs: it checks the tool exists for the tenant's preset, parses and validates the
model's arguments, and turns every ``ToolFailure`` (and invalid arguments) into a result
the model can read and recover from, rolling back anything the tool had written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from tendero.agent.tools import catalog, orders, support
from tendero.agent.tools.base import ToolContext, ToolFailure, ToolResult

__all__ = ["TOOLS", "ToolContext", "ToolFailure", "ToolResult", "run_tool", "tool_definitions"]

logger = logging.getLogger(__name__)

Handler = Callable[[ToolContext, Any], Awaitable[ToolResult]]


@dataclass(frozen=True)
class ToolSpec:
    """A tool: its name, argument model, handler and the description the model reads."""

    name: str
    args: type[BaseModel]
    handler: Handler
    description: str

    def definition(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry (function with JSON-schema parameters)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": _without_titles(self.args.model_json_schema()),
            },
        }


def _spec(name: str, args: type[BaseModel], handler: Handler, description: str) -> ToolSpec:
    return ToolSpec(name=name, args=args, handler=handler, description=description)


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "search_ecommerce_products",
            catalog.SearchProductsArgs,
            catalog.search_ecommerce_products,
            "Search the shop's catalog; returns products with product_id, variants, "
            "prices and availability.",
        ),
        _spec(
            "get_ecommerce_order",
            orders.GetOrderArgs,
            orders.get_ecommerce_order,
            "Look up the customer's own order by order number (search_type order_id), "
            "their phone number, or a verified e-mail.",
        ),
        _spec(
            "get_active_orders",
            orders.GetActiveOrdersArgs,
            orders.get_active_orders,
            "List the customer's orders that are not delivered or cancelled yet.",
        ),
        _spec(
            "add_to_cart",
            catalog.AddToCartArgs,
            catalog.add_to_cart,
            "Add a product (variant_id required when it has several) to the cart.",
        ),
        _spec("view_cart", catalog.ViewCartArgs, catalog.view_cart, "Show the cart."),
        _spec(
            "create_ecommerce_order",
            catalog.CreateOrderArgs,
            catalog.create_ecommerce_order,
            "Prepare the order: sets the given items in the cart and sends the customer a "
            "summary to CONFIRM. It does not place the order.",
        ),
        _spec(
            "create_ticket_report",
            support.CreateTicketArgs,
            support.create_ticket_report,
            "Open a support ticket (complaints, defects, returns, problems).",
        ),
        _spec(
            "get_ticket_information",
            support.GetTicketArgs,
            support.get_ticket_information,
            "The customer's tickets, or one by its number.",
        ),
        _spec(
            "request_human_agent",
            support.RequestHumanArgs,
            support.request_human_agent,
            "Hand the conversation to a person of the team.",
        ),
    )
}


def tool_definitions(names: Iterable[str]) -> list[dict[str, Any]]:
    """The OpenAI ``tools`` list for these tool names (unknown names are skipped)."""
    return [TOOLS[name].definition() for name in names if name in TOOLS]


async def run_tool(ctx: ToolContext, name: str, raw_arguments: str) -> ToolResult:
    """Run one tool call of the model as the conversation's customer.

    Args:
        ctx: the call's context (tenant, customer, preset, open session).
        name: the tool name the model used.
        raw_arguments: the model's JSON arguments, unparsed.

    Returns:
        The tool's result; failures come back as ``ok=False`` results carrying an
        ``error`` code and a message for the model, never as exceptions.
    """
    spec = TOOLS.get(name)
    if spec is None or name not in ctx.preset.tools:
        return _failed(ToolFailure("unknown_tool", f"There is no tool called {name!r}."))
    try:
        args = spec.args.model_validate(_parse_arguments(raw_arguments))
    except ToolFailure as failure:
        return _failed(failure)
    except ValidationError as err:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(arguments)", "problem": e["msg"]}
            for e in err.errors(include_url=False, include_input=False)
        ]
        return _failed(
            ToolFailure("invalid_arguments", "Fix the arguments and call again.", problems=problems)
        )
    savepoint = await ctx.session.begin_nested()
    try:
        result = await spec.handler(ctx, args)
    except ToolFailure as failure:
        await savepoint.rollback()
        return _failed(failure)
    except SQLAlchemyError:
        raise  # the database is down or busy: the activity retries the whole call
    except Exception:
        # A bug must cost one tool call, not the conversation: the model is told and moves on.
        await savepoint.rollback()
        logger.exception("tool %s failed", name)
        return _failed(ToolFailure("internal_error", "The tool failed; try something else."))
    await savepoint.commit()
    return result


def _without_titles(schema: Any) -> Any:
    """Drop pydantic's generated ``title`` keys: the model is billed for every schema token.

    Property names stay (a property literally called ``title`` is kept as a property).
    """
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: (
            {name: _without_titles(sub) for name, sub in value.items()}
            if key in ("properties", "$defs")
            else _without_titles(value)
        )
        for key, value in schema.items()
        if key != "title"
    }


def _parse_arguments(raw: str) -> Any:
    if not raw.strip():
        return {}
    if "\x00" in raw or "\\u0000" in raw:
        # PostgreSQL text and JSONB cannot hold NUL: refuse it before any query sees it.
        raise ToolFailure("invalid_arguments", "The arguments contain a NUL character.")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ToolFailure(
            "invalid_arguments", f"The arguments are not valid JSON ({err.msg})."
        ) from err
    if not isinstance(value, dict):
        raise ToolFailure("invalid_arguments", "The arguments must be a JSON object.")
    return value


def _failed(failure: ToolFailure) -> ToolResult:
    return ToolResult(content=failure.as_result(), ok=False)
