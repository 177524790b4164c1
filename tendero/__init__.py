"""Tendero: a durable conversational-commerce assistant."""
