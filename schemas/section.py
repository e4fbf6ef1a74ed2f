"""A configuration section: unknown keys are refused, inputs never appear in errors, and any secret `x`
may be given as `x_file`.

`x_file` names a file holding the secret (a Docker or Kubernetes secret mount); it is read once at
load, surrounding whitespace stripped. Errors name the key and the path, never the file's content.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

MAX_SECRET_FILE_BYTES = 64 * 1024
FILE_SUFFIX = "_file"


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return SecretStr in typing.get_args(annotation)
    return False


def read_secret_file(key: str, value: object) -> str:
    """The content of the file named by `key` (e.g. `sasl_password_file`); ValueError names key and path."""
    if not isinstance(value, str | Path):
        raise ValueError(f"{key} must be a file path")
    path = Path(value)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{key}: cannot read {path} ({exc.strerror or type(exc).__name__})") from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise ValueError(f"{key}: {path} is larger than {MAX_SECRET_FILE_BYTES} bytes; is it the right file?")
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError(f"{key}: {path} is not UTF-8 text") from None
    if not text:
        raise ValueError(f"{key}: {path} is empty")
    return text


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        wanted = [name for name, field in cls.model_fields.items()
                  if _is_secret(field.annotation) and f"{name}{FILE_SUFFIX}" in data]
        if not wanted:
            return data
        data = dict(data)
        for name in wanted:
            key = f"{name}{FILE_SUFFIX}"
            if data.get(name) is not None:
                raise ValueError(f"{name} and {key} are both set: keep one")
            data[name] = read_secret_file(key, data.pop(key))
        return data
