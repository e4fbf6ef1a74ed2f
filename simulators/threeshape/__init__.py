"""A 3Shape Dental Desktop server (3shape-dental-desktop-pms-integration.txt, "Webservice (REST)
integration"): HTTPS with a pinned CA, Basic auth, cases that change over time, faults on demand."""

from simulators.threeshape.app import create_app
from simulators.threeshape.certs import Authority, TlsFiles, make_authority, write_tls_files
from simulators.threeshape.state import (
    AttachedImage,
    Case,
    Client,
    DentalDesktopState,
    Faults,
    Indication,
    SurfaceScan,
)

__all__ = [
    "AttachedImage",
    "Authority",
    "Case",
    "Client",
    "DentalDesktopState",
    "Faults",
    "Indication",
    "SurfaceScan",
    "TlsFiles",
    "create_app",
    "make_authority",
    "write_tls_files",
]
