"""Privacy (GDPR) tests: export, delete, retention, consent; real Postgres and Temporal."""
