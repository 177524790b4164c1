"""Small SQL building blocks shared by the batched write paths (catalog import, store mirror)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import String, Uuid, literal, literal_column
from sqlalchemy.dialects.postgresql import ARRAY

# Postgres accepts at most 65535 bind parameters per statement; rows here have <= 25 columns.
CHUNK = 1000
_T = TypeVar("_T")


def inserted_flag() -> Any:
    """``RETURNING`` column telling an inserted row (True) from an updated one.

    On ``INSERT ... ON CONFLICT``, a freshly inserted row has ``xmax = 0`` while an updated
    one carries the updating transaction's id: the usual way to tell them apart.
    """
    return literal_column("(xmax = 0)").label("inserted")


def uuid_array(values: Iterable[Any]) -> Any:
    """A bound ``uuid[]`` literal, for ``= ANY(...)`` with one parameter instead of many."""
    return literal(list(values), ARRAY(Uuid()))


def text_array(values: Iterable[str]) -> Any:
    """A bound ``varchar[]`` literal, for ``= ANY(...)`` with one parameter instead of many."""
    return literal(list(values), ARRAY(String()))


def chunks(items: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
