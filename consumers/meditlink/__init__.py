"""Medit Link: OAuth2 tokens, API client, poller, normalizer, 7z checks, worker handler
(meditlink-openapi.txt)."""
