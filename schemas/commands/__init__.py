"""Command models by type (DESIGN.md §10): one line per vendor module; the contract, the JSON Schemas and
the executor read this registry."""

from __future__ import annotations

from schemas.commands import itero, meditlink, threeshape
from schemas.commands.base import COMMAND_FAILED, COMMAND_SUCCEEDED, CommandData, CommandResult

COMMAND_MODELS: dict[str, type[CommandData]] = {
    model.command_type(): model for module in (itero, meditlink, threeshape) for model in module.MODELS
}

__all__ = ["COMMAND_FAILED", "COMMAND_MODELS", "COMMAND_SUCCEEDED", "CommandData", "CommandResult"]
