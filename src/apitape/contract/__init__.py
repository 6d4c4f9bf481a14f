"""Contract: check exchanges against an OpenAPI document, and what they cover."""
