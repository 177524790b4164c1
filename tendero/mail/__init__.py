"""E-mail: templates, SMTP sending, the idempotent outbox and the dev mail catcher."""
