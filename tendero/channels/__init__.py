"""Messaging channels: provider-specific webhook parsing, signing and sending."""
