"""3Shape Dental Desktop (3shape-dental-desktop-pms-integration.txt, "Webservice (REST) integration"):
pinned TLS, hardened XML, the API client and the case normalizer."""
