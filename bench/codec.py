"""Payload encryption cost: the product's converter (pydantic + EncryptionCodec) vs plain pydantic.

Encodes and decodes a typical payload (the ``ConversationInput`` a conversation starts with,
and a ``CheckoutChoice`` carrying an address) in this process, many times, and prints payloads
per second, microseconds per payload and the size on the wire for both converters::

    python bench/codec.py --iterations 20000

Figures only, no assertions; no server, no network.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.converter import DataConverter  # noqa: E402

from tendero.domain.checkout import CheckoutChoice  # noqa: E402
from tendero.domain.conversation import ConversationInput, ConversationRef  # noqa: E402
from tests.codec import codec_converter  # noqa: E402


def samples() -> dict[str, object]:
    ref = ConversationRef(
        tenant_id=uuid.uuid4(), customer_id=uuid.uuid4(), conversation_id=uuid.uuid4()
    )
    return {
        "ConversationInput": ConversationInput(conversation=ref),
        "CheckoutChoice": CheckoutChoice.model_validate(
            {"step": "address", "address": {"text": "9 Elm Road, Springfield"}}
        ),
    }


async def measure(
    converter: DataConverter, value: object, iterations: int
) -> tuple[float, float, int]:
    """Seconds per encode and per decode (whole data converter), and the encoded size."""
    hint = [type(value)]
    (payload,) = await converter.encode([value])
    start = time.perf_counter()
    for _ in range(iterations):
        await converter.encode([value])
    encode_s = (time.perf_counter() - start) / iterations
    start = time.perf_counter()
    for _ in range(iterations):
        await converter.decode([payload], hint)
    decode_s = (time.perf_counter() - start) / iterations
    return encode_s, decode_s, payload.ByteSize()


async def run(iterations: int) -> None:
    converters = {"plain pydantic": pydantic_data_converter, "pydantic + codec": codec_converter()}
    python = sys.version.split()[0]
    print(f"{iterations} iterations per figure, one payload per call, Python {python}")
    header = f"{'payload':<18} {'converter':<17} {'encode/s':>10} {'µs':>7} {'decode/s':>10}"
    print(f"{header} {'µs':>7} {'bytes':>6}")
    for name, value in samples().items():
        for label, converter in converters.items():
            await measure(converter, value, 200)  # warm up
            encode_s, decode_s, size = await measure(converter, value, iterations)
            print(
                f"{name:<18} {label:<17} {1 / encode_s:>10,.0f} {encode_s * 1e6:>7.1f} "
                f"{1 / decode_s:>10,.0f} {decode_s * 1e6:>7.1f} {size:>6}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    opts = parser.parse_args()
    if opts.iterations < 1:
        parser.error("need --iterations >= 1")
    asyncio.run(run(opts.iterations))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
