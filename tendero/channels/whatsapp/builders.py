"""Turn channel-neutral :class:`~tendero.domain.messages.Reply` objects into Graph API bodies.

Sources: notes/whatsapp.md section 2 ("Sending"), from Meta's Cloud API pages "Interactive
list messages" and "Interactive reply buttons messages" and the send bodies in Meta's Postman
collection (folder "Messages"). Every body is
``{"messaging_product": "whatsapp", "recipient_type": "individual", "to", "type", ...}``.

Limits enforced (characters, counted as Python code points):

=====================  ==========  ===========================================
field                  limit       applies to
=====================  ==========  ===========================================
``text.body``          4096        text replies
``body.text``          1024        list and button replies
``header.text``        60          list and button replies (text header)
``footer.text``        60          list and button replies
button ``title``       20          reply buttons (1-3 buttons, titles unique)
button ``id``          256         reply buttons (ids unique)
``action.button``      20          list (the label that opens the list)
section ``title``      24          list (required when there are 2+ sections)
row ``title``          24          list (at most 10 rows across all sections)
row ``description``    72          list
row ``id``             200         list (ids unique)
=====================  ==========  ===========================================

Policy: visible copy (bodies, titles, labels, descriptions) longer than its limit is cut and
ends with "…" so the message still sends; our own copy and catalog names produce such strings
and a refused message is worse than a shortened one. Ids are never cut, because a changed id
would no longer route the customer's tap: an over-long id, like any structural violation
(no or too many buttons/rows/sections, duplicate titles or ids, empty text), is a programming
error and raises ``ValueError``.
"""

from __future__ import annotations

from typing import Any

from tendero.domain.messages import Reply

ELLIPSIS = "…"

TEXT_BODY_MAX = 4096
INTERACTIVE_BODY_MAX = 1024
HEADER_TEXT_MAX = 60
FOOTER_TEXT_MAX = 60
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
BUTTONS_MAX = 3
LIST_BUTTON_MAX = 20
SECTION_TITLE_MAX = 24
SECTIONS_MAX = 10
ROWS_MAX = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
ROW_ID_MAX = 200


def truncate(text: str, limit: int) -> str:
    """Shorten ``text`` to at most ``limit`` characters, ending with "…" when cut.

    Args:
        text: the copy to fit.
        limit: the maximum length in characters (at least 1).

    Returns:
        ``text`` unchanged when it fits, else its first ``limit - 1`` characters (trailing
        whitespace dropped) followed by "…".
    """
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def build_message(to: str, reply: Reply, *, reply_to: str | None = None) -> dict[str, Any]:
    """Build the ``POST /{phone_number_id}/messages`` JSON body for one reply.

    Shapes (notes/whatsapp.md section 2; Meta's interactive list and reply-button pages):

    - ``text``: ``{"type": "text", "text": {"body" (<=4096), "preview_url": false}}``;
      ``header``/``footer`` are not used by text replies.
    - ``buttons``: ``{"type": "interactive", "interactive": {"type": "button",
      "header"?: {"type": "text", "text" (<=60)}, "body": {"text" (<=1024)},
      "footer"?: {"text" (<=60)}, "action": {"buttons": [{"type": "reply",
      "reply": {"id" (<=256), "title" (<=20)}}]}}}`` with 1-3 buttons.
    - ``list``: ``{"type": "interactive", "interactive": {"type": "list", header/body/footer
      as above, "action": {"button" (<=20), "sections": [{"title"? (<=24), "rows": [{"id"
      (<=200), "title" (<=24), "description"? (<=72)}]}]}}}`` with 1-10 sections and 1-10
      rows in total.

    Args:
        to: the recipient (``wa_id`` phone digits, or a BSUID where Meta accepts it).
        reply: the channel-neutral reply.
        reply_to: optional inbound ``wamid`` to quote (adds ``context.message_id``).

    Returns:
        The JSON-serialisable body.

    Raises:
        ValueError: a structural violation (see the module docstring); never for over-long
            visible text, which is truncated.
    """
    if not to:
        raise ValueError("recipient is empty")
    if not reply.body.strip():
        raise ValueError("reply body is empty")
    message: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
    }
    if reply_to is not None:
        message["context"] = {"message_id": reply_to}
    if reply.kind == "text":
        message["type"] = "text"
        message["text"] = {"body": truncate(reply.body, TEXT_BODY_MAX), "preview_url": False}
        return message
    if reply.kind == "buttons":
        interactive = _frame("button", reply)
        interactive["action"] = {"buttons": _buttons(reply)}
    else:
        interactive = _frame("list", reply)
        interactive["action"] = _list_action(reply)
    message["type"] = "interactive"
    message["interactive"] = interactive
    return message


def _frame(kind: str, reply: Reply) -> dict[str, Any]:
    """Type, header, body and footer shared by list and button messages."""
    interactive: dict[str, Any] = {"type": kind}
    if reply.header:
        interactive["header"] = {"type": "text", "text": truncate(reply.header, HEADER_TEXT_MAX)}
    interactive["body"] = {"text": truncate(reply.body, INTERACTIVE_BODY_MAX)}
    if reply.footer:
        interactive["footer"] = {"text": truncate(reply.footer, FOOTER_TEXT_MAX)}
    return interactive


def _buttons(reply: Reply) -> list[dict[str, Any]]:
    count = len(reply.buttons)
    if not 1 <= count <= BUTTONS_MAX:
        raise ValueError(f"reply buttons need 1-{BUTTONS_MAX} buttons, got {count}")
    titles: list[str] = []
    ids: list[str] = []
    for button in reply.buttons:
        _check_id(button.id, BUTTON_ID_MAX, "button")
        ids.append(button.id)
        titles.append(truncate(_visible(button.title, "button title"), BUTTON_TITLE_MAX))
    _unique(ids, "button ids")
    # Checked after truncation: two long titles may only differ past the 20th character.
    _unique(titles, "button titles")
    return [
        {"type": "reply", "reply": {"id": button_id, "title": title}}
        for button_id, title in zip(ids, titles, strict=True)
    ]


def _list_action(reply: Reply) -> dict[str, Any]:
    if not reply.list_button or not reply.list_button.strip():
        raise ValueError("a list reply needs list_button (the label that opens the list)")
    sections = reply.sections
    if not 1 <= len(sections) <= SECTIONS_MAX:
        raise ValueError(f"a list needs 1-{SECTIONS_MAX} sections, got {len(sections)}")
    total_rows = sum(len(section.rows) for section in sections)
    if total_rows > ROWS_MAX:
        raise ValueError(f"a list allows at most {ROWS_MAX} rows in total, got {total_rows}")
    row_ids: list[str] = []
    built: list[dict[str, Any]] = []
    for index, section in enumerate(sections):
        if not section.rows:
            raise ValueError(f"list section {index} has no rows")
        out: dict[str, Any] = {}
        if section.title:
            out["title"] = truncate(section.title, SECTION_TITLE_MAX)
        elif len(sections) > 1:
            raise ValueError("every section needs a title when a list has several sections")
        rows: list[dict[str, Any]] = []
        for row in section.rows:
            _check_id(row.id, ROW_ID_MAX, "row")
            row_ids.append(row.id)
            item: dict[str, Any] = {
                "id": row.id,
                "title": truncate(_visible(row.title, "row title"), ROW_TITLE_MAX),
            }
            if row.description:
                item["description"] = truncate(row.description, ROW_DESCRIPTION_MAX)
            rows.append(item)
        out["rows"] = rows
        built.append(out)
    _unique(row_ids, "row ids")
    return {"button": truncate(reply.list_button, LIST_BUTTON_MAX), "sections": built}


def _visible(text: str, what: str) -> str:
    if not text.strip():
        raise ValueError(f"{what} is empty")
    return text


def _check_id(value: str, limit: int, what: str) -> None:
    if not value:
        raise ValueError(f"{what} id is empty")
    if len(value) > limit:
        raise ValueError(f"{what} id is {len(value)} characters, the limit is {limit}")


def _unique(values: list[str], what: str) -> None:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must be unique within a message")
