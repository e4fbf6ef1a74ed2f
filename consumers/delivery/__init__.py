"""Signed HTTP delivery of events to subscriptions (README "Delivering to HTTP endpoints")."""
