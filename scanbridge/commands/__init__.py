"""Subcommand modules; each has `register(app)`. Add a module to MODULES to expose it. A vendor's own
commands (e.g. `scanbridge threeshape …`) come from its plug-in (scanbridge/vendors/)."""

from scanbridge.commands import (
    artifacts,
    command,
    config,
    connect,
    connections,
    console,
    demo,
    dlq,
    prune,
    replay,
    serve,
    sim,
    state,
    subscriptions,
    tail,
    token,
)

MODULES = [serve, demo, tail, sim, replay, dlq, token, connections, connect, state, config,
           artifacts, subscriptions, prune, command, console]
