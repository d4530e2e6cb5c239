"""One rule for every backend: a store that is away, locked or busy is StoreUnavailable.

Each backend says which of its exceptions mean "not now" (`translate`); every public method
of the composed store is wrapped once, so no call site can forget, and the HTTP edge
answers 503 with Retry-After (lrs.api.errors) instead of 500.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from lrs.domain.errors import StoreUnavailable

T = TypeVar("T")
Translate = Callable[[Exception], StoreUnavailable | None]


def unavailable_as_503(translate: Translate) -> Callable[[type[T]], type[T]]:
    """A class decorator: public methods (the mixins' included) raise what `translate`
    makes of an exception it recognises, and any other exception unchanged."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as exc:
                unavailable = translate(exc)
                if unavailable is None:
                    raise
                raise unavailable from exc

        return call

    def decorate(cls: type[T]) -> type[T]:
        for name in dir(cls):
            value = getattr(cls, name)
            if callable(value) and not name.startswith("_") and not isinstance(value, type):
                setattr(cls, name, wrap(value))
        return cls

    return decorate
