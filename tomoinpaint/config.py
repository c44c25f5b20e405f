"""Typed configs: frozen dataclasses to and from JSON/YAML, unknown keys refused.

One loader for every config of the project: the networks
(:mod:`tomoinpaint.nn.config`), the training recipes
(:mod:`tomoinpaint.train.config`) and the pipelines' config files.
:func:`from_dict` builds a dataclass from a mapping (nested sections by their
type hints; JSON/YAML lists become tuples) and names unknown keys with their
section; :func:`to_dict` is its inverse.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from .io.atomic import atomic_write_text

__all__ = ["from_dict", "to_dict", "read_mapping", "load_config", "save_config"]

_C = TypeVar("_C")


def _strip_optional(tp: Any) -> Any:
    """``X | None`` -> ``X`` (only for dataclass types; other unions pass through)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _convert(value: Any, tp: Any, where: str) -> Any:
    stripped = _strip_optional(tp)
    if value is None and stripped is not tp:
        return None
    tp = stripped
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, _where=where)
    if isinstance(value, list):
        # JSON/YAML have no tuples: every sequence field is a tuple
        return tuple(_convert(v, Any, where) for v in value)
    return value


def from_dict(cls: type[_C], data: Mapping[str, Any], *, _where: str = "") -> _C:
    """Build config dataclass ``cls`` from a mapping, nested sections included.

    Parameters
    ----------
    cls : type
        A config dataclass (frozen, validating itself in ``__post_init__``).
    data : mapping
        Field values; lists become tuples, nested mappings nested configs.
        Missing fields take their defaults.

    Raises
    ------
    ValueError
        Unknown keys (named, with their section) or invalid values.
    """
    name = _where or cls.__name__
    if not isinstance(data, Mapping):
        raise ValueError(f"{name} must be a mapping of fields, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ValueError(f"unknown key(s) in {name}: {unknown}; allowed keys are {sorted(fields)}")
    kwargs = {k: _convert(v, hints[k], f"{name}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples as lists, nested sections as dicts).

    Options added after runs were recorded (field metadata ``omit_at_default``)
    are left out while at their default, so older runs still compare equal.
    """

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {
                f.name: conv(getattr(v, f.name))
                for f in dataclasses.fields(v)
                if f.init
                and not (f.metadata.get("omit_at_default") and getattr(v, f.name) == f.default)
            }
        if isinstance(v, (tuple, list)):
            return [conv(x) for x in v]
        if isinstance(v, Mapping):
            return {str(k): conv(x) for k, x in v.items()}
        return v

    if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
        raise ValueError(f"to_dict expects a config dataclass, got {type(config).__name__}")
    return conv(config)


def read_mapping(path: str | Path) -> Any:
    """The parsed content of a ``.json``, ``.yaml`` or ``.yml`` file (YAML: safe_load)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if suffix in (".yaml", ".yml"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path} is not valid YAML: {exc}") from None
    raise ValueError(f"config file {path} must end in .yaml, .yml or .json")


def load_config(path: str | Path, cls: type[_C]) -> _C:
    """Read a config from a YAML or JSON file.

    Parameters
    ----------
    path : str or path-like
        ``.yaml``, ``.yml`` or ``.json``. YAML is read with ``yaml.safe_load``
        (no arbitrary objects).
    cls : type
        The config class of the file's top level.

    Returns
    -------
    config dataclass
        Frozen and validated.

    Raises
    ------
    ValueError
        Unreadable file, wrong suffix, unknown keys (named), invalid values.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    data = read_mapping(path)
    if data is None:
        data = {}
    return from_dict(cls, data, _where=f"{path.name}")


def save_config(config: Any, path: str | Path) -> Path:
    """Write ``to_dict(config)`` as JSON (atomically), e.g. ``resolved_config.json``."""
    path = Path(path)
    text = json.dumps(to_dict(config), indent=2) + "\n"
    atomic_write_text(path, text, parents=True)
    return path
