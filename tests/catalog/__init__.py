"""Tests of tendero.catalog and tendero.db.repos.catalog."""
