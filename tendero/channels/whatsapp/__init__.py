"""WhatsApp Cloud API channel: webhook signature, payload parsing, send bodies, Graph client.

Facts and limits come from ``shared/notes/whatsapp.md`` (Meta's Cloud API docs).
"""
