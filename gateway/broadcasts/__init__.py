"""Scheduled scam-warning broadcasts to subscribed villagers."""
