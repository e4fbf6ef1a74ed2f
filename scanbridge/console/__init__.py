"""The operator console (issue 17; README "Console"): server-rendered pages over the state store, the bus
and the artifact store — connections, orders, dead letters, replay — behind a sign-in."""
