"""Redaction: secrets become keyed placeholders before anything is written."""
