"""Load the settings, or say in one line per problem where it is, which key, and what to do.

A line never carries a configured value (a value may be a token or a password): pydantic errors are
rendered without their input, TOML syntax errors without the offending character.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Discriminator, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import SettingsError

from schemas.settings import (
    CONFIG_ENV,
    ConfigFileMissing,
    SecretInConfigFile,
    Settings,
    config_path,
    kafka_bootstrap_from_env,
    secrets_dir,
)

ENV_PREFIX = "SCANBRIDGE_"
Loc = tuple[int | str, ...]


class ConfigError(Exception):
    """The configuration cannot be used; `problems` holds one self-contained line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_settings() -> Settings:
    """The settings of this process (KAFKA_BOOTSTRAP applied), or ConfigError naming every problem."""
    path: Path | None = None
    try:
        path = config_path()
        settings = Settings()
    except (ConfigFileMissing, SecretInConfigFile) as exc:
        raise ConfigError([f"{path}: {exc}" if isinstance(exc, SecretInConfigFile) else str(exc)]) from None
    except tomllib.TOMLDecodeError as exc:
        syntax = _without_quoted(str(exc))
        raise ConfigError([f"{path}: not valid TOML: {syntax}; fix the syntax there"]) from None
    except ValidationError as exc:
        raise ConfigError(explain(exc, path)) from None
    except SettingsError as exc:  # an environment variable that is not valid JSON, an unusable secrets dir
        raise ConfigError([f"{exc}: check the SCANBRIDGE_… environment variables and SCANBRIDGE_SECRETS_DIR "
                           "(lists and tables are given as JSON there)"]) from None
    return kafka_bootstrap_from_env(settings)


def explain(exc: ValidationError, path: Path | None) -> list[str]:
    """One line per error: where the value came from, the key, what is wrong and what to do."""
    origins = _Origins(path)
    lines = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        loc = _untagged(tuple(error["loc"]))
        lines.append(f"{origins.of(loc)}: {origins.key(loc)}: {_advice(loc, error)}")
    return lines


def _untagged(loc: Loc) -> Loc:
    """Without the tag pydantic puts after the index of an entry of a discriminated union (`itero[0].align.…`
    is the key `itero[0].…` of the TOML)."""
    if len(loc) > 2 and isinstance(loc[0], str) and isinstance(loc[1], int) and isinstance(loc[2], str):
        field = Settings.model_fields.get(loc[0])
        items = typing.get_args(field.annotation) if field is not None else ()
        if items and any(isinstance(m, Discriminator) for m in getattr(items[0], "__metadata__", ())):
            return loc[:2] + loc[3:]
    return loc


def _without_quoted(text: str) -> str:
    """Drop quoted fragments ('x', "x") from a library message: they may be part of a value."""
    return re.sub(r"\s*(['\"]).*?\1", "", text)


def _advice(loc: Loc, error: Any) -> str:
    kind, message = error["type"], str(error["msg"])
    message = re.sub(r"^(Value error|Assertion failed), ", "", message)
    field = _field_at(loc)
    meaning = f" ({field.description})" if field is not None and field.description else ""
    if kind == "missing":
        return f"required but not set; add it{meaning}"
    if kind == "extra_forbidden":
        known = _fields_of(_model_at(loc[:-1]))
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known keys here: {', '.join(known)}"
        return f"unknown key; remove it or fix its spelling ({hint})"
    if kind == "literal_error":
        return message.replace("Input should be", "must be") + meaning
    return message + meaning


def _unwrap(annotation: Any) -> Any:
    """The model inside `X | None`, `list[X]`, `Annotated[X, …]`, or a union of `X` and its subclasses."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            inner = [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
            base = inner[0]
            if len(inner) != 1 and not (isinstance(base, type)
                                        and all(isinstance(a, type) and issubclass(a, base) for a in inner)):
                return annotation
            annotation = inner[0]
        elif origin in (list, tuple, set, dict):
            annotation = typing.get_args(annotation)[-1]
        else:
            return annotation


def _model_at(loc: Loc) -> type[BaseModel] | None:
    model: Any = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        model = _unwrap(model.model_fields[part].annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _field_at(loc: Loc) -> FieldInfo | None:
    names = [p for p in loc if isinstance(p, str)]
    if not names:
        return None
    parent = _model_at(loc[:-1]) if isinstance(loc[-1], str) else None
    return parent.model_fields.get(names[-1]) if parent is not None else None


def _fields_of(model: type[BaseModel] | None) -> list[str]:
    return list(model.model_fields) if model is not None else []


class _Origins:
    """Which source a key came from: environment, secret file, the TOML file, or the defaults."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.toml: dict[str, Any] = {}
        if path is not None:
            with path.open("rb") as fh:
                self.toml = tomllib.load(fh)
        self.env = {k.upper(): k for k in os.environ if k.upper().startswith(ENV_PREFIX)}
        folder = secrets_dir()
        self.secrets = {p.name.upper(): p for p in folder.iterdir() if p.is_file()} if folder else {}

    def of(self, loc: Loc) -> str:
        names: list[str] = []
        for part in loc:
            if isinstance(part, int):
                break
            names.append(part)
        for n in range(len(names), 0, -1):
            variable = ENV_PREFIX + "__".join(names[:n]).upper()
            if variable in self.env:
                return f"environment {self.env[variable]}"
            if variable in self.secrets:
                return f"secret file {self.secrets[variable]}"
        if self.path is None:
            return f"defaults (no {CONFIG_ENV} file)"
        return str(self.path)

    def key(self, loc: Loc) -> str:
        text = ""
        for part in loc:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        if len(loc) > 1 and isinstance(loc[1], int) and isinstance(loc[0], str):
            entries = self.toml.get(loc[0])
            if isinstance(entries, list) and loc[1] < len(entries) and isinstance(entries[loc[1]], dict):
                name = entries[loc[1]].get("id")
                if isinstance(name, str):
                    text += f" (connection {name!r})"
        return text or "(top level)"
