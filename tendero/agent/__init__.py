"""Conversation engines: the guided router (no model, no tokens) and, later, the LLM agent."""
