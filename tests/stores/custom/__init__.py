"""Tests of tendero.stores.custom against FakeCustomBackend."""
