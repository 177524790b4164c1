"""Everything the bot says, in English and Spanish.

Keys are stable; ``{placeholders}`` are filled with ``str.format``. A missing Spanish text
falls back to English, so a new key never breaks a Spanish shop.
"""

from __future__ import annotations

from typing import Any

EN: dict[str, str] = {
    "greeting": "Hi{name}! Welcome to {shop}. What would you like to do?",
    "btn_browse": "Browse products",
    "btn_cart": "My cart",
    "btn_orders": "My orders",
    "btn_checkout": "Checkout",
    "btn_add_more": "Add more",
    "btn_clear": "Clear cart",
    "btn_add": "Add to cart",
    "btn_back": "Back",
    "btn_menu": "Menu",
    "btn_delivery": "Delivery",
    "btn_pickup": "Pickup",
    "list_open": "View options",
    "categories_body": "Pick a category:",
    "categories_section": "Categories",
    "no_categories": "The catalog is empty right now. Please check back soon.",
    "products_body": "{category}: pick a product.",
    "products_section": "Products",
    "more_row": "More…",
    "more_row_desc": "Show the next products",
    "product_detail": "*{name}*\n{price}\n{stock}\n\n{description}",
    "in_stock": "In stock",
    "in_stock_n": "In stock ({count} left)",
    "out_of_stock": "Out of stock",
    "product_out_of_stock": "Sorry, *{name}* is out of stock right now.",
    "choose_variant": "Which option of *{name}* would you like?",
    "variants_section": "Options",
    "variant_out": "out of stock",
    "choose_quantity": "How many *{label}* would you like? ({price} each) "
    "Pick one or type a number.",
    "quantity_section": "Quantity",
    "added": "Added {quantity} × {label} to your cart.\nCart: {count} items, {subtotal}.",
    "capped": "Only {available} of {label} are available, so your cart now has {quantity}.",
    "none_left": "Sorry, there are no more of {label} available.",
    "cart_empty": "Your cart is empty.",
    "cart_body": "*Your cart*\n{lines}\n\nSubtotal: {subtotal}",
    "cart_line": "• {quantity} × {label}: {total}",
    "cart_cleared": "Your cart is now empty.",
    "search_results": "Here is what I found for “{query}”:",
    "search_none": "I couldn't find anything for “{query}”. "
    "Try another word, or browse the catalog.",
    "unknown_option": "Sorry, that option is no longer available.",
    "cannot_read": "I can read text, taps on options, locations and catalog orders. "
    "Please type what you are looking for.",
    "help": "You can:\n• type a product name to search\n• *menu* for the main menu\n"
    "• *cart* to see your cart\n• *checkout* to order\n"
    "• *my orders* or an order number (e.g. {example}) to track an order\n"
    "• *verify* to see your orders by e-mail\n"
    "• *agent* to talk to a person",
    "handoff_started": "I've asked a person from our team to take over. They will answer "
    "you here soon.",
    "handed_back": "You're chatting with our assistant again. How can I help?",
    "human_took_over": "A person from our team is now in this chat.",
    "assistant_unavailable": "Sorry, our assistant is unavailable right now and I couldn't "
    "find anything for “{query}”. You can browse the catalog, or type *agent* to reach a "
    "person.",
    "assistant_no_answer": "Sorry, I couldn't work that out. Could you say it another way? "
    "You can also type *menu* or *agent*.",
    "catalog_order_added": "I added the items from your catalog order.",
    "catalog_order_missing": "These items are not available here: {items}.",
    "nothing_to_confirm": "There is no order summary waiting for confirmation. "
    "Type *checkout* when your cart is ready.",
    "cart_changed": "Your cart changed since the summary, so here is an updated one.",
    "checkout_running": "You are already checking out. Answer the last question, "
    "or type *cancel* to stop.",
    "checkout_cancelled": "Checkout cancelled. Your cart is kept.",
    "ask_fulfilment": "How would you like to receive your order?",
    "ask_address": "Please type your delivery address, or share your location.",
    "ask_payment": "How would you like to pay?",
    "pay_cash": "Cash",
    "pay_card_on_delivery": "Card on delivery",
    "pay_bank_transfer": "Bank transfer",
    "pickup_at": "Pickup at {address}",
    "summary": "*Order summary*\n{lines}\n\nSubtotal: {subtotal}\n{fee_line}Tax: {tax}\n"
    "*Total: {total}*\n\n{fulfilment}\nPayment: {payment}\n\n"
    "Reply *CONFIRM* to place your order (valid for {minutes} minutes).",
    "fee_line": "Delivery: {fee}\n",
    "deliver_to": "Delivery to: {address}",
    "expired": "Your order summary expired, so no order was placed. "
    "Type *checkout* to start again.",
    "confirm_expired": "That order summary has expired, so no order was placed. "
    "Type *checkout* to start again.",
    "order_being_placed": "Your order is being placed; the confirmation follows in a moment.",
    "confirm_outdated": "Your order summary was just updated. Please check the new summary "
    "and reply *CONFIRM* again.",
    "checkout_timed_out": "Your checkout timed out, so no order was placed. "
    "Type *checkout* to start again.",
    "checkout_error": "Sorry, something went wrong and no order was placed. "
    "Type *checkout* to try again.",
    "order_placed": "✅ Order *{number}* placed. Total: {total}.\n{next}",
    "next_delivery": "We are preparing it and will deliver to {address}. "
    "Ask “where is my order {number}” any time.",
    "next_pickup": "We will tell you when it is ready for pickup at {address}. "
    "Ask “where is my order {number}” any time.",
    "order_failed_stock": "Sorry, no order was placed: {items} just sold out. "
    "Your cart is kept; type *cart* to adjust it.",
    "order_failed": "Sorry, no order was placed: {reason}. Type *cart* to review your cart.",
    "prices_changed": "Prices changed since your summary, so here is an updated one.",
    "order_not_found": "I couldn't find an order {number} for you. "
    "Check the number, or type *my orders*.",
    "no_orders": "You have no orders with us yet.",
    "orders_list": "*Your recent orders*\n{lines}\n\nSend an order number for details.",
    "orders_line": "• {number}: {status}, {total}",
    "order_detail": "*Order {number}*\nStatus: {status}\n{items}\nTotal: {total}\n\n*Timeline*\n"
    "{events}",
    "status_confirmed": "confirmed",
    "status_preparing": "being prepared",
    "status_shipped": "shipped",
    "status_ready_for_pickup": "ready for pickup",
    "status_delivered": "delivered",
    "status_cancelled": "cancelled",
    "status_pending": "pending",
    "event_placed": "placed",
    "invalid_quantity": "Please send a number from 1 to {max}.",
    "address_too_short": "That address looks incomplete. Please type the street, number and city.",
    # identity verification
    "verify_ask_email": "To show private details I first need to verify your e-mail. Type the "
    "e-mail address of your account.",
    "verify_code_sent": "If {email} belongs to an account at {shop}, we've e-mailed it a 6-digit "
    "code. Type the code here; it is valid for {minutes} minutes.",
    "verify_checking": "Checking {email} with order {number}…",
    "verify_invalid_email": "That doesn't look like an e-mail address. Please type it again "
    "(for example name@example.com).",
    "verify_rate_limited": "Too many codes were asked for that address. Please try again in an "
    "hour.",
    "verify_locked": "Too many wrong attempts. For your security, please try again in {minutes} "
    "minutes.",
    "verify_wrong_code": "That code isn't right. {left} attempts left.",
    "verify_expired": "That code has expired. Type your e-mail address again to get a new one.",
    "verify_done": "✅ Verified: {email}.",
    "verify_already": "You're already verified as {email}.",
    "verify_mismatch": "That e-mail and order number don't match our records. Please check both "
    "and try again.",
    "verify_mail_failed": "Sorry, we can't send the code right now. Please try again later.",
    "email_orders_none": "No orders found for {email}.",
    "email_orders": "Orders for {email}:\n{lines}",
    # support tickets
    "btn_ticket": "Report a problem",
    "ticket_pick_category": "What is the problem about?",
    "ticket_categories_section": "Topics",
    "ticket_describe": "Please describe the problem in one message. You can send photos too.",
    "ticket_opened": "🎫 Ticket *{number}* is open. Our team will answer here.",
    "ticket_assigned": "{agent} from {shop} is now handling your ticket *{number}*.",
    "ticket_agent_reply": "*{agent}* ({number}): {text}",
    "ticket_resolved": "Your ticket *{number}* is resolved. How did we do?",
    "ticket_reopened": "Your ticket *{number}* is open again; our team will follow up here.",
    "csat_good": "😀 Good",
    "csat_okay": "😐 Okay",
    "csat_bad": "😞 Bad",
    "csat_thanks": "Thank you for your feedback!",
    "ticket_media_added": "📎 Photo added to ticket *{number}*.",
}

ES: dict[str, str] = {
    "greeting": "¡Hola{name}! Bienvenido a {shop}. ¿Qué te gustaría hacer?",
    "btn_browse": "Ver productos",
    "btn_cart": "Mi carrito",
    "btn_orders": "Mis pedidos",
    "btn_checkout": "Pagar",
    "btn_add_more": "Seguir comprando",
    "btn_clear": "Vaciar carrito",
    "btn_add": "Agregar",
    "btn_back": "Volver",
    "btn_menu": "Menú",
    "btn_delivery": "A domicilio",
    "btn_pickup": "Recoger",
    "list_open": "Ver opciones",
    "categories_body": "Elige una categoría:",
    "categories_section": "Categorías",
    "no_categories": "El catálogo está vacío por ahora.",
    "products_body": "{category}: elige un producto.",
    "products_section": "Productos",
    "more_row": "Más…",
    "more_row_desc": "Ver más productos",
    "in_stock": "Disponible",
    "in_stock_n": "Disponible ({count} en stock)",
    "out_of_stock": "Agotado",
    "product_out_of_stock": "Lo siento, *{name}* está agotado.",
    "choose_variant": "¿Qué opción de *{name}* quieres?",
    "variants_section": "Opciones",
    "variant_out": "agotado",
    "choose_quantity": "¿Cuántas unidades de *{label}* quieres? ({price} c/u) Elige o escribe "
    "un número.",
    "quantity_section": "Cantidad",
    "added": "Agregué {quantity} × {label} a tu carrito.\nCarrito: {count} artículos, {subtotal}.",
    "cart_empty": "Tu carrito está vacío.",
    "cart_body": "*Tu carrito*\n{lines}\n\nSubtotal: {subtotal}",
    "cart_cleared": "Tu carrito está vacío.",
    "search_results": "Esto encontré para “{query}”:",
    "search_none": "No encontré nada para “{query}”. Prueba otra palabra o mira el catálogo.",
    "unknown_option": "Lo siento, esa opción ya no está disponible.",
    "ask_fulfilment": "¿Cómo quieres recibir tu pedido?",
    "ask_address": "Escribe tu dirección de entrega o comparte tu ubicación.",
    "ask_payment": "¿Cómo quieres pagar?",
    "pay_cash": "Efectivo",
    "pay_card_on_delivery": "Tarjeta al recibir",
    "pay_bank_transfer": "Transferencia",
    "summary": "*Resumen del pedido*\n{lines}\n\nSubtotal: {subtotal}\n{fee_line}Impuestos: {tax}\n"
    "*Total: {total}*\n\n{fulfilment}\nPago: {payment}\n\n"
    "Responde *CONFIRM* para hacer tu pedido (válido por {minutes} minutos).",
    "fee_line": "Envío: {fee}\n",
    "deliver_to": "Entrega en: {address}",
    "expired": "Tu resumen expiró y no se hizo ningún pedido. Escribe *checkout* para empezar "
    "de nuevo.",
    "order_placed": "✅ Pedido *{number}* realizado. Total: {total}.\n{next}",
    "order_not_found": "No encontré un pedido {number} tuyo. Revisa el número o escribe "
    "*mis pedidos*.",
    "handoff_started": "Le pedí a una persona de nuestro equipo que te atienda. Te "
    "responderá por aquí pronto.",
    "handed_back": "Vuelves a hablar con nuestro asistente. ¿En qué te ayudo?",
    "human_took_over": "Una persona de nuestro equipo está ahora en este chat.",
    "assistant_unavailable": "Lo siento, nuestro asistente no está disponible ahora y no "
    "encontré nada para “{query}”. Puedes ver el catálogo o escribir *agente* para hablar "
    "con una persona.",
    "assistant_no_answer": "Lo siento, no logré entenderlo. ¿Puedes decirlo de otra forma? "
    "También puedes escribir *menú* o *agente*.",
    "no_orders": "Aún no tienes pedidos.",
    # identity verification
    "verify_ask_email": "Para mostrarte datos privados primero debo verificar tu correo. "
    "Escribe el correo de tu cuenta.",
    "verify_code_sent": "Si {email} pertenece a una cuenta de {shop}, le enviamos un código de 6 "
    "dígitos. Escríbelo aquí; vale {minutes} minutos.",
    "verify_checking": "Comprobando {email} con el pedido {number}…",
    "verify_invalid_email": "Eso no parece un correo. Escríbelo de nuevo (por ejemplo "
    "nombre@ejemplo.com).",
    "verify_rate_limited": "Se pidieron demasiados códigos para ese correo. Inténtalo de nuevo en "
    "una hora.",
    "verify_locked": "Demasiados intentos fallidos. Por tu seguridad, inténtalo de nuevo en "
    "{minutes} minutos.",
    "verify_wrong_code": "Ese código no es correcto. Te quedan {left} intentos.",
    "verify_expired": "Ese código expiró. Escribe tu correo otra vez para recibir uno nuevo.",
    "verify_done": "✅ Verificado: {email}.",
    "verify_already": "Ya estás verificado como {email}.",
    "verify_mismatch": "Ese correo y ese número de pedido no coinciden. Revisa ambos e "
    "inténtalo de nuevo.",
    "verify_mail_failed": "Lo siento, ahora no podemos enviar el código. Inténtalo más tarde.",
    "email_orders_none": "No hay pedidos para {email}.",
    "email_orders": "Pedidos de {email}:\n{lines}",
    # support tickets
    "btn_ticket": "Reportar un problema",
    "ticket_pick_category": "¿Sobre qué es el problema?",
    "ticket_categories_section": "Temas",
    "ticket_describe": "Describe el problema en un mensaje. También puedes enviar fotos.",
    "ticket_opened": "🎫 El ticket *{number}* está abierto. Nuestro equipo te responderá aquí.",
    "ticket_assigned": "{agent} de {shop} atiende ahora tu ticket *{number}*.",
    "ticket_agent_reply": "*{agent}* ({number}): {text}",
    "ticket_resolved": "Tu ticket *{number}* está resuelto. ¿Cómo lo hicimos?",
    "ticket_reopened": "Tu ticket *{number}* está abierto de nuevo; nuestro equipo seguirá aquí.",
    "csat_good": "😀 Bien",
    "csat_okay": "😐 Regular",
    "csat_bad": "😞 Mal",
    "csat_thanks": "¡Gracias por tu opinión!",
    "ticket_media_added": "📎 Foto añadida al ticket *{number}*.",
}

# abuse limits (tendero.ratelimit): the one notice of a window to a customer over the limit
EN["slow_down"] = "You're sending messages very fast — I'll answer in a minute."
ES["slow_down"] = "Estás enviando mensajes muy rápido — te respondo en un minuto."

CATALOGS = {"en": EN, "es": ES}


def t(language: str, key: str, **values: Any) -> str:
    """The text ``key`` in ``language`` (English fallback), formatted with ``values``.

    Raises:
        KeyError: ``key`` does not exist in English (a programming error).
    """
    template = CATALOGS.get(language, EN).get(key) or EN[key]
    return template.format(**values) if values else template


# -- abandoned-cart recovery (tendero.recovery) --------------------------------------------------
EN.update(
    {
        "recovery_nudge": "You have {count} items in your cart at {shop} ({total}). "
        "Need help finishing your order?",
        "recovery_nudge_one": "You have 1 item in your cart at {shop} ({total}). "
        "Need help finishing your order?",
        "recovery_discount_line": "Discount ({code}): -{amount}\n",
        "recovery_code_used": "That discount code was already used, so it is not applied.",
        "recovery_code_expired": "That discount code has expired, so it is not applied.",
        "recovery_code_unknown": "I don't know that discount code, so it is not applied.",
        "recovery_code_other_cart": "That discount code was made for another cart, so it is "
        "not applied.",
        "recovery_code_applied": "🎉 Code *{code}* applied: you will see the discount in your "
        "order summary.",
        "recovery_code_no_cart": "Your cart is empty, so there is nothing to apply *{code}* to.",
        "recovery_opted_out": "Done: you will get no more reminders or offers from {shop}. "
        "Write *subscribe* if you change your mind.",
        "recovery_opted_in": "Thanks! {shop} may now send you reminders and offers. Write "
        "*stop* at any time to stop them.",
    }
)
ES.update(
    {
        "recovery_nudge": "Tienes {count} artículos en tu carrito de {shop} ({total}). "
        "¿Te ayudo a terminar tu pedido?",
        "recovery_nudge_one": "Tienes 1 artículo en tu carrito de {shop} ({total}). "
        "¿Te ayudo a terminar tu pedido?",
        "recovery_discount_line": "Descuento ({code}): -{amount}\n",
        "recovery_code_used": "Ese código de descuento ya se usó, así que no se aplica.",
        "recovery_code_expired": "Ese código de descuento expiró, así que no se aplica.",
        "recovery_code_unknown": "No conozco ese código de descuento, así que no se aplica.",
        "recovery_code_other_cart": "Ese código de descuento es de otro carrito, así que no se "
        "aplica.",
        "recovery_code_applied": "🎉 Código *{code}* aplicado: verás el descuento en el resumen "
        "de tu pedido.",
        "recovery_code_no_cart": "Tu carrito está vacío: no hay nada a qué aplicar *{code}*.",
        "recovery_opted_out": "Listo: {shop} no te enviará más recordatorios ni ofertas. "
        "Escribe *ofertas* si cambias de opinión.",
        "recovery_opted_in": "¡Gracias! {shop} podrá enviarte recordatorios y ofertas. "
        "Escribe *baja* cuando quieras dejar de recibirlos.",
    }
)
