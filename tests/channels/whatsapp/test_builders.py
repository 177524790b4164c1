import json
from pathlib import Path
from typing import Any

import pytest

from tendero.channels.whatsapp.builders import build_message, truncate
from tendero.domain.messages import Button, ListRow, ListSection, Reply

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "whatsapp"
TO = "5491122334455"


def buttons_reply(*titles: str, **extra: Any) -> Reply:
    return Reply(
        kind="buttons",
        body="¿Confirmás el pedido?",
        buttons=[Button(id=f"b{i}", title=title) for i, title in enumerate(titles)],
        **extra,
    )


def list_reply(*sections: ListSection, button: str | None = "Ver menú") -> Reply:
    return Reply(kind="list", body="Elegí", list_button=button, sections=list(sections))


def rows(n: int, prefix: str = "r") -> list[ListRow]:
    return [ListRow(id=f"{prefix}{i}", title=f"Item {prefix}{i}") for i in range(n)]


# --- exact bodies ---------------------------------------------------------------------------


def test_text_body() -> None:
    assert build_message(TO, Reply.text("Hola, ¿qué te preparo?")) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "text",
        "text": {"body": "Hola, ¿qué te preparo?", "preview_url": False},
    }


def test_text_reply_to_a_message_adds_context() -> None:
    body = build_message(TO, Reply.text("Listo"), reply_to="wamid.in")
    assert body["context"] == {"message_id": "wamid.in"}


def test_three_buttons_body() -> None:
    reply = Reply(
        kind="buttons",
        header="Tu pedido",
        body="2 empanadas, total 5,00 €",
        footer="Tendero",
        buttons=[
            Button(id="confirm", title="Confirmar"),
            Button(id="edit", title="Cambiar"),
            Button(id="cancel", title="Cancelar"),
        ],
    )
    assert build_message(TO, reply) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "header": {"type": "text", "text": "Tu pedido"},
            "body": {"text": "2 empanadas, total 5,00 €"},
            "footer": {"text": "Tendero"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "confirm", "title": "Confirmar"}},
                    {"type": "reply", "reply": {"id": "edit", "title": "Cambiar"}},
                    {"type": "reply", "reply": {"id": "cancel", "title": "Cancelar"}},
                ]
            },
        },
    }


def test_list_body() -> None:
    reply = Reply(
        kind="list",
        header="Menú",
        body="¿Qué querés pedir?",
        footer="Precios con IVA",
        list_button="Ver opciones",
        sections=[
            ListSection(
                title="Empanadas",
                rows=[
                    ListRow(id="emp-carne", title="Carne", description="Cuchillo, 2,50 €"),
                    ListRow(id="emp-jyq", title="Jamón y queso"),
                ],
            ),
            ListSection(title="Bebidas", rows=[ListRow(id="agua", title="Agua")]),
        ],
    )
    assert build_message(TO, reply) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "header": {"type": "text", "text": "Menú"},
            "body": {"text": "¿Qué querés pedir?"},
            "footer": {"text": "Precios con IVA"},
            "action": {
                "button": "Ver opciones",
                "sections": [
                    {
                        "title": "Empanadas",
                        "rows": [
                            {
                                "id": "emp-carne",
                                "title": "Carne",
                                "description": "Cuchillo, 2,50 €",
                            },
                            {"id": "emp-jyq", "title": "Jamón y queso"},
                        ],
                    },
                    {"title": "Bebidas", "rows": [{"id": "agua", "title": "Agua"}]},
                ],
            },
        },
    }


def test_single_section_list_may_omit_title() -> None:
    body = build_message(TO, list_reply(ListSection(rows=rows(2))))
    assert body["interactive"]["action"]["sections"] == [
        {"rows": [{"id": "r0", "title": "Item r0"}, {"id": "r1", "title": "Item r1"}]}
    ]
    assert "header" not in body["interactive"]
    assert "footer" not in body["interactive"]


def test_body_is_json_serialisable() -> None:
    body = build_message(TO, list_reply(ListSection(title="A", rows=rows(10))))
    assert json.loads(json.dumps(body)) == body


# --- truncation -----------------------------------------------------------------------------


def test_truncate() -> None:
    assert truncate("abc", 3) == "abc"
    assert truncate("abcd", 3) == "ab…"
    assert truncate("ab cd", 4) == "ab…"  # no dangling space before the ellipsis


def get(body: dict[str, Any], path: str) -> str:
    node: Any = body
    for part in path.split("."):
        node = node[int(part)] if part.isdigit() else node[part]
    assert isinstance(node, str)
    return node


def text_reply(n: int) -> Reply:
    return Reply.text("x" * n)


def buttons_with(field: str, n: int) -> Reply:
    values = {"header": None, "footer": None, "body": "Body", "title": "Sí"}
    values[field] = "x" * n
    return Reply(
        kind="buttons",
        header=values["header"],
        footer=values["footer"],
        body=values["body"] or "",
        buttons=[Button(id="b", title=values["title"] or "")],
    )


def list_with(field: str, n: int) -> Reply:
    values: dict[str, str] = {
        "button": "Ver",
        "section": "Sección",
        "title": "Fila",
        "description": "Desc",
    }
    values[field] = "x" * n
    row = ListRow(id="r", title=values["title"], description=values["description"])
    return list_reply(ListSection(title=values["section"], rows=[row]), button=values["button"])


@pytest.mark.parametrize(
    ("make", "path", "limit"),
    [
        (text_reply, "text.body", 4096),
        (lambda n: buttons_with("body", n), "interactive.body.text", 1024),
        (lambda n: buttons_with("header", n), "interactive.header.text", 60),
        (lambda n: buttons_with("footer", n), "interactive.footer.text", 60),
        (lambda n: buttons_with("title", n), "interactive.action.buttons.0.reply.title", 20),
        (lambda n: list_with("button", n), "interactive.action.button", 20),
        (lambda n: list_with("section", n), "interactive.action.sections.0.title", 24),
        (lambda n: list_with("title", n), "interactive.action.sections.0.rows.0.title", 24),
        (
            lambda n: list_with("description", n),
            "interactive.action.sections.0.rows.0.description",
            72,
        ),
    ],
    ids=[
        "text-body",
        "body",
        "header",
        "footer",
        "button-title",
        "list-button",
        "section-title",
        "row-title",
        "row-description",
    ],
)
def test_truncation_at_limit(make: Any, path: str, limit: int) -> None:
    at_limit = get(build_message(TO, make(limit)), path)
    assert at_limit == "x" * limit
    over = get(build_message(TO, make(limit + 1)), path)
    assert len(over) == limit
    assert over == "x" * (limit - 1) + "…"
    far_over = get(build_message(TO, make(limit * 3)), path)
    assert far_over == over


def test_list_interactive_body_limit() -> None:
    reply = Reply(
        kind="list",
        body="y" * 1025,
        list_button="Ver",
        sections=[ListSection(rows=rows(1))],
    )
    text = build_message(TO, reply)["interactive"]["body"]["text"]
    assert len(text) == 1024
    assert text.endswith("…")


def test_ids_at_limit_are_kept() -> None:
    body = build_message(
        TO, Reply(kind="buttons", body="b", buttons=[Button(id="i" * 256, title="t")])
    )
    assert body["interactive"]["action"]["buttons"][0]["reply"]["id"] == "i" * 256
    reply = list_reply(ListSection(rows=[ListRow(id="i" * 200, title="t")]))
    assert build_message(TO, reply)["interactive"]["action"]["sections"][0]["rows"][0]["id"] == (
        "i" * 200
    )


# --- structural violations ------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(buttons_reply(), id="no-buttons"),
        pytest.param(buttons_reply("a", "b", "c", "d"), id="four-buttons"),
        pytest.param(buttons_reply("Sí", "No", "Sí"), id="duplicate-titles"),
        pytest.param(
            buttons_reply("Agregar empanada de carne", "Agregar empanada de pollo"),
            id="titles-equal-after-truncation",
        ),
        pytest.param(
            Reply(
                kind="buttons",
                body="b",
                buttons=[Button(id="same", title="A"), Button(id="same", title="B")],
            ),
            id="duplicate-button-ids",
        ),
        pytest.param(
            Reply(kind="buttons", body="b", buttons=[Button(id="i" * 257, title="A")]),
            id="button-id-too-long",
        ),
        pytest.param(buttons_reply("  "), id="blank-button-title"),
        pytest.param(list_reply(), id="no-sections"),
        pytest.param(list_reply(ListSection(title="A", rows=[])), id="empty-section"),
        pytest.param(list_reply(ListSection(title="A", rows=rows(11))), id="eleven-rows"),
        pytest.param(
            list_reply(
                ListSection(title="A", rows=rows(6, "a")), ListSection(title="B", rows=rows(5, "b"))
            ),
            id="eleven-rows-across-sections",
        ),
        pytest.param(
            list_reply(*[ListSection(title=f"S{i}", rows=rows(1, f"s{i}-")) for i in range(11)]),
            id="eleven-sections",
        ),
        pytest.param(
            list_reply(ListSection(title="A", rows=rows(1, "a")), ListSection(rows=rows(1, "b"))),
            id="untitled-section-among-several",
        ),
        pytest.param(
            list_reply(ListSection(title="A", rows=rows(1)), ListSection(title="B", rows=rows(1))),
            id="duplicate-row-ids",
        ),
        pytest.param(
            list_reply(ListSection(rows=[ListRow(id="i" * 201, title="t")])), id="row-id-too-long"
        ),
        pytest.param(list_reply(ListSection(rows=rows(1)), button=None), id="no-list-button"),
        pytest.param(Reply.text("   "), id="blank-body"),
    ],
)
def test_structural_violations_raise(reply: Reply) -> None:
    with pytest.raises(ValueError):
        build_message(TO, reply)


def test_ten_rows_across_sections_is_allowed() -> None:
    reply = list_reply(
        ListSection(title="A", rows=rows(6, "a")), ListSection(title="B", rows=rows(4, "b"))
    )
    sections = build_message(TO, reply)["interactive"]["action"]["sections"]
    assert sum(len(s["rows"]) for s in sections) == 10


def test_empty_recipient_raises() -> None:
    with pytest.raises(ValueError):
        build_message("", Reply.text("hola"))


# --- shapes match Meta's Postman "Messages" examples ----------------------------------------


def postman_send_body(name: str) -> dict[str, Any]:
    collection = json.loads(
        (FIXTURES / "meta_whatsapp-cloud-api.postman_collection.json").read_text()
    )
    folder = next(item for item in collection["item"] if item["name"] == "Messages")
    request = next(item for item in folder["item"] if item["name"] == name)["request"]
    body: dict[str, Any] = json.loads(request["body"]["raw"])
    return body


def shape(value: Any) -> Any:
    """Keys and leaf types, ignoring the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


def test_text_shape_matches_postman() -> None:
    assert shape(build_message(TO, Reply.text("hola"))) == shape(
        postman_send_body("Send Text Message")
    )


def test_buttons_shape_matches_postman() -> None:
    ours = build_message(TO, buttons_reply("Sí", "No"))
    assert shape(ours) == shape(postman_send_body("Send Reply Button"))


def test_list_shape_matches_postman() -> None:
    row = ListRow(id="r", title="t", description="d")
    reply = Reply(
        kind="list",
        header="h",
        body="b",
        footer="f",
        list_button="Ver",
        sections=[
            ListSection(title="A", rows=[row, row.model_copy(update={"id": "r2"})]),
            ListSection(
                title="B",
                rows=[row.model_copy(update={"id": "r3"}), row.model_copy(update={"id": "r4"})],
            ),
        ],
    )
    assert shape(build_message(TO, reply)) == shape(postman_send_body("Send List Message"))


def test_reply_to_shape_matches_postman() -> None:
    reply = list_reply(
        ListSection(title="A", rows=rows(2, "a")), ListSection(title="B", rows=rows(2, "b"))
    )
    reply = reply.model_copy(update={"header": "h", "footer": "f"})
    ours = build_message(TO, reply, reply_to="wamid.x")
    theirs = postman_send_body("Send Reply to List Message")
    assert ours["context"].keys() == theirs["context"].keys()
    assert ours.keys() == theirs.keys()
