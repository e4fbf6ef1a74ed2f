"""Subcommand modules; each has `register(app)`. Add a module to MODULES to expose it."""

from scanbridge.commands import (
    artifacts,
    config,
    connect,
    connections,
    demo,
    dlq,
    replay,
    serve,
    sim,
    state,
    tail,
    threeshape,
    token,
)

MODULES = [serve, demo, tail, sim, replay, dlq, token, connections, connect, threeshape, state, config,
           artifacts]
