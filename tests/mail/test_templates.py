"""Mail templates: English and Spanish, escaping, fallback, strictness."""

from __future__ import annotations

import jinja2
import pytest

from tendero.mail.templates import UnknownTemplate, available_templates, render

CODE = {"shop": "Corner Shop", "code": "482913", "minutes": "5"}
CREATED = {
    "shop": "Corner Shop",
    "ticket_number": "T-1042",
    "subject": "Broken zipper",
    "priority": "high",
    "category": "returns",
}
ESCALATED = {
    "shop": "Corner Shop",
    "ticket_number": "T-1042",
    "subject": "Broken zipper",
    "priority": "urgent",
    "previous_priority": "high",
    "reason": "first response",
    "due_at": "2025-03-01 14:00 UTC",
}
RECOVERY = {
    "shop": "Corner Shop",
    "name": "Ana",
    "count": "2",
    "items": "2 × Sunglasses: $40.00",
    "total": "$40.00",
    "code": "BACK-ABCDEFGH23",
    "percent": "10",
    "expires": "2025-03-08",
    "keyword": "BACK-ABCDEFGH23",
    "resume_link": "https://wa.me/15550100?text=BACK-ABCDEFGH23",
    "unsubscribe_link": "https://shop.test/unsubscribe/token",
    "last_chance": "",
}
ALL = {
    "verification_code": CODE,
    "ticket_created": CREATED,
    "ticket_escalated": ESCALATED,
    "cart_recovery": RECOVERY,
}


def test_every_template_ships_in_english_and_spanish() -> None:
    assert available_templates() == set(ALL)


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("template", sorted(ALL))
def test_renders_every_value(template: str, language: str) -> None:
    mail = render(template, language, ALL[template])
    assert "\n" not in mail.subject and mail.subject == mail.subject.strip()
    assert mail.subject and mail.text.strip() and mail.html.strip()
    assert f'<html lang="{language}">' in mail.html
    for key, value in ALL[template].items():
        if key == "reason" and language == "es":
            continue
        if key == "code":
            continue
        assert value in mail.text, key
        assert value in mail.html, key


def test_verification_code_mail() -> None:
    mail = render("verification_code", "en", CODE)
    assert "Corner Shop" in mail.subject
    assert "482913" not in mail.subject  # a subject shows up in lock screens and logs
    assert "482913" in mail.text and "482913" in mail.html
    assert "5 minutes" in mail.text and "once" in mail.text and "ignore" in mail.text


def test_spanish() -> None:
    mail = render("verification_code", "es", CODE)
    assert mail.subject == "Tu código de verificación para Corner Shop"
    assert "482913" in mail.text and "5 minutos" in mail.text
    escalated = render("ticket_escalated", "es", ESCALATED)
    assert "primera respuesta" in escalated.text and "primera respuesta" in escalated.html
    assert "escalado a urgent" in escalated.subject


def test_regional_language_uses_its_base_language() -> None:
    assert render("verification_code", "es-MX", CODE).subject.startswith("Tu código")


def test_unknown_language_falls_back_to_english() -> None:
    assert render("ticket_created", "fr", CREATED) == render("ticket_created", "en", CREATED)
    assert render("ticket_created", "../../etc", CREATED) == render("ticket_created", "en", CREATED)


def test_html_escapes_values_and_text_does_not() -> None:
    values = {**CREATED, "subject": "<script>alert(1)</script> & more"}
    mail = render("ticket_created", "en", values)
    assert "<script>" not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in mail.html
    assert "<script>alert(1)</script> & more" in mail.text


def test_subject_cannot_inject_headers() -> None:
    values = {**CREATED, "subject": "hi\r\nBcc: victim@example.com"}
    assert "\n" not in render("ticket_created", "en", values).subject


def test_unknown_template() -> None:
    with pytest.raises(UnknownTemplate):
        render("password_reset", "en", {})
    with pytest.raises(UnknownTemplate):
        render("../en/verification_code", "en", CODE)
    assert issubclass(UnknownTemplate, ValueError)


def test_missing_value_raises() -> None:
    values = dict(CODE)
    del values["code"]
    with pytest.raises(jinja2.UndefinedError):
        render("verification_code", "en", values)
