"""The one registry helper: named specs of one kind (tasks, head types), looked up by name with a
message that lists what exists."""

from __future__ import annotations

from typing import Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(dict, Generic[T]):
    """``{name: spec}`` for one ``kind`` of spec; a spec is anything with a non-empty ``name``."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def register(self, spec: T) -> T:
        """Make ``spec`` available by its name (a later spec of the same name replaces it)."""
        name = getattr(spec, "name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"expected a {self.kind} spec with a name, got {name!r}; set its `name`")
        self[name] = spec
        return spec

    def lookup(self, name: str) -> T:
        """The spec called ``name``, or ConfigError listing the registered names."""
        if not isinstance(name, str) or name not in self:
            raise ConfigError(f"expected {self.kind} to be one of {', '.join(self)}, got {name!r}; "
                              "pass one of the listed values")
        return self[name]
