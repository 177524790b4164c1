"""Checkout rules that need no Temporal: pricing the summary."""
