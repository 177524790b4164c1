"""Payload encryption tests; ``codec_converter()`` is the converter of every test client."""

from __future__ import annotations

from temporalio.converter import DataConverter

from tests.harness import make_settings
from workflows.client import data_converter


def codec_converter() -> DataConverter:
    """The product's data converter with the test secret key (``tests.harness.SECRET_KEY``).

    Test environments (``start_local``, ``start_time_skipping``, the replayer, the benches)
    use it, so tests exercise the same encrypted payloads as production.
    """
    return data_converter(make_settings("postgresql://unused/unused"))
