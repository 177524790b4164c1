"""Store connectors: one protocol, one implementation per kind of store."""
