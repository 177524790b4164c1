"""Persistence: SQLAlchemy 2.0 models, async engine, repositories, Alembic migrations."""
