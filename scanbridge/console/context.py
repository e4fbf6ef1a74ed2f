"""What every console page works with: settings, the shared state, the bus, the artifact store, the
sign-in parts, the auditor and the templates; and the two checks every request goes through (who is
signed in; for a POST, the CSRF token and, for a change, the admin role)."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, FunctionLoader
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from bus.base import Bus
from consumers.artifacts.base import ArtifactStore
from scanbridge.console.audit import Auditor
from scanbridge.console.auth import Accounts, Operator, SignInLimiter
from scanbridge.console.figures import Figures
from scanbridge.console.sessions import SESSION_COOKIE, Sessions, csrf_ok
from scanbridge.plugin import ConsoleControls, VendorPlugin, console_controls
from schemas.settings import ConsoleSettings, Settings
from state.shared import SharedState

TEMPLATES = Path(__file__).parent / "templates"
log = logging.getLogger(__name__)


class SignInRequired(Exception):
    """No valid session: the page sends the browser to the sign-in form."""


@dataclass
class Console:
    settings: Settings
    shared: SharedState
    bus: Bus | None
    artifacts: ArtifactStore | None = None
    clock: Callable[[], float] = time.time
    session_key: bytes | None = None  # None: console.session_key, else random (with a warning)
    accounts: Accounts = field(init=False)
    sessions: Sessions = field(init=False)
    limiter: SignInLimiter = field(init=False)
    audit: Auditor = field(init=False)
    templates: Jinja2Templates = field(init=False)
    figures: Figures = field(init=False)
    local_metrics: bool = True  # inside `scanbridge run`: this process's registry holds the figures
    jobs: dict[str, Any] = field(default_factory=dict)  # replay runs by id (pages/replay.py)
    plugins: Sequence[VendorPlugin] | None = None  # None: the registered vendors (scanbridge/vendors)
    controls: dict[str, ConsoleControls] = field(init=False)  # vendor → its connection-page controls

    def __post_init__(self) -> None:
        c = self.settings.console
        self.accounts = Accounts(c)
        if self.session_key is None:
            self.session_key = session_key_of(c)
        self.sessions = Sessions(self.session_key, c.session_ttl_s, self.clock, secure=c.secure_cookies)
        self.limiter = SignInLimiter(c.sign_in_attempts, c.sign_in_window_s, self.clock)
        self.audit = Auditor(self.shared.store.audit, self.bus, self.settings.bus.topics)
        if self.plugins is None:
            from scanbridge import vendors  # the registry imports every vendor: not at module load

            self.plugins = vendors.VENDORS
        self.controls = console_controls(self.plugins)
        fragments = {fragment_name(v): c.fragment for v, c in self.controls.items()}

        def fragment(name: str) -> str | None:
            return fragments[name].read_text(encoding="utf-8") if name in fragments else None

        loader = ChoiceLoader([FileSystemLoader(TEMPLATES), FunctionLoader(fragment)])
        self.templates = Jinja2Templates(env=Environment(loader=loader, autoescape=True))
        self.figures = Figures(c.metrics_urls, self.clock, local=self.local_metrics)

    @property
    def store(self) -> Any:
        return self.shared.store

    def operator(self, request: Request) -> tuple[Operator, str]:
        # SignInRequired is handled in app.py: GETs go to the sign-in form, POSTs get a 401 page
        """The signed-in operator and the session's CSRF token; SignInRequired otherwise."""
        session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        role = self.accounts.role_of(session.name) if session is not None else None
        if session is None or role is None:
            raise SignInRequired
        return Operator(session.name, role), session.csrf

    async def form(self, request: Request, *, admin: bool = True) -> tuple[Operator, FormData]:
        """A POST's operator and form, after the CSRF check (403) and, with `admin`, the role check (403)."""
        operator, csrf = self.operator(request)
        form = await request.form()
        if not csrf_ok(csrf, form.get("csrf")):
            raise HTTPException(403, "The form's CSRF token is missing or wrong: reload the page and retry.")
        if admin and not operator.admin:
            await self.audit(operator.name, "refused", request.url.path, {"reason": "admin role needed"})
            raise HTTPException(403, "This needs the admin role.")
        return operator, form

    def page(self, request: Request, template: str, values: Mapping[str, Any],
             status_code: int = 200) -> Response:
        operator, csrf = self.operator(request)
        return self.templates.TemplateResponse(
            request, template, {"operator": operator, "csrf": csrf, **values}, status_code=status_code,
            headers=NO_STORE)


def session_key_of(settings: ConsoleSettings) -> bytes:
    """The key signing the session cookies: `console.session_key` (environment or secret file), so a
    restart keeps everyone signed in and replicas accept each other's cookies; else a random one."""
    if settings.session_key is not None:
        return settings.session_key.get_secret_value().encode()
    log.warning("console: no console.session_key (SCANBRIDGE_CONSOLE__SESSION_KEY or session_key_file): "
                "a random key signs the sessions; they do not survive a restart and another console "
                "replica refuses them")
    return secrets.token_bytes(32)


def fragment_name(vendor: str) -> str:
    """The template name of a vendor's connection-page fragment."""
    return f"vendor/{vendor}.html"


NO_STORE = {"cache-control": "no-store"}

