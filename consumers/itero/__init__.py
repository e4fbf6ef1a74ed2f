"""iTero DPMS and Align lab accounts: API client, tokens, normalizer, worker handler (itero-dpms-api.txt)."""
