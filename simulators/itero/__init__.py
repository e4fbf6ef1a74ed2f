"""iTero DPMS / Align lab cloud simulator (itero-dpms-api.txt; Align lab guideline §3)."""
