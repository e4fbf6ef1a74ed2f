"""The Starlette app of the Medit Link simulator: authorization server (meditlink-openapi.txt §1),
resources (§3.1–3.5), S3-like file URLs (§3.4) and the `/_sim` admin API, behind fault injection.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

from simulators.meditlink import admin, files, oauth, resources
from simulators.meditlink.errors import (
    MeditError,
    S3Error,
    handle_http_exception,
    handle_medit_error,
    handle_s3_error,
)
from simulators.meditlink.faults import FaultInjector
from simulators.meditlink.state import MeditSimState


def create_app(state: MeditSimState | None = None) -> Starlette:
    """One app serves what Medit spreads over three hosts (auth, resources, S3)."""
    state = MeditSimState() if state is None else state
    app = Starlette(
        routes=[*oauth.routes, *resources.routes, *files.routes, *admin.routes],
        middleware=[Middleware(FaultInjector, state=state)],
        exception_handlers={
            MeditError: handle_medit_error,
            S3Error: handle_s3_error,
            HTTPException: handle_http_exception,
        },
    )
    app.state.sim = state
    return app
