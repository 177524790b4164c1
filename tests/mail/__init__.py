"""Tests of tendero.mail and the send_email activity."""
