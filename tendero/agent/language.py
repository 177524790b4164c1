"""Which language a customer writes in, among the languages the shop allows.

``py3langid`` (a compact naive-Bayes identifier) restricted to the shop's languages; a
guess is taken only when it is confident and the text has at least two words, because a
lone "ok", "hi" or "CONFIRM" says nothing about the customer's language.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache

from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

MIN_CONFIDENCE = 0.9
MIN_WORDS = 2
_LOCK = threading.Lock()


@cache
def _identifier() -> LanguageIdentifier:
    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)


def detect_language(text: str, allowed: Sequence[str]) -> str | None:
    """The language of ``text`` if it is one of ``allowed`` and the guess is confident.

    Args:
        text: the customer's message.
        allowed: ISO 639-1 codes the shop answers in (e.g. ``["en", "es"]``).

    Returns:
        A code from ``allowed``, or ``None`` when the text is too short, the guess is not
        confident, or only one language is allowed.
    """
    if len(allowed) < 2 or len(text.split()) < MIN_WORDS:
        return None
    identifier = _identifier()
    # set_languages mutates the shared model, so restrict and classify under one lock.
    with _LOCK:
        identifier.set_languages(list(allowed))
        language, confidence = identifier.classify(text)
    if confidence < MIN_CONFIDENCE or language not in allowed:
        return None
    return str(language)
