"""Where a pydantic error is, in the terms of the document that was validated.

A pydantic error location mixes keys of the document with the tags of the
unions it went through (a fault's injector name, a probe's kind). A probe's
tag is also one of its keys (``http`` tags the member that holds ``http:``),
so the location cannot be walked through the document as it is: the tag
would be taken for the key, and everything below it lost. :func:`follow`
walks the location through the model's types instead, drops the tags, and
says which model the location ends in, so that an unknown field can list the
ones that are known.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag

__all__ = ["Followed", "field_names", "follow"]

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Followed:
    path: Loc
    """The location without union tags: keys and indices of the document."""
    model: type[BaseModel] | None
    """The model the whole location ends in, when it ends in one."""


class _Lost(Exception):
    """The location goes where the walk cannot follow (a type it does not know)."""


def follow(model: type[BaseModel], loc: Sequence[str | int]) -> Followed:
    """``loc`` without its union tags, and the model at its end. Where the
    types cannot be followed, the rest of ``loc`` is kept as it is."""
    kept: list[str | int] = []
    node: Any = model
    for index, part in enumerate(loc):
        try:
            node, tag = _step(node, part)
        except _Lost:
            return Followed((*kept, *loc[index:]), None)
        if not tag:
            kept.append(part)
    return Followed(tuple(kept), _model_of(node))


def field_names(model: type[BaseModel]) -> list[str]:
    """The fields of ``model`` as a document writes them (aliases), sorted."""
    return sorted(info.alias or name for name, info in model.model_fields.items())


def _step(node: Any, part: str | int) -> tuple[Any, bool]:
    """The type that ``part`` of a location leads to from ``node``, and whether
    ``part`` was a union tag rather than a key or an index."""
    node = _plain(node)
    members = _union_members(node)
    if members is not None:
        for member in members:
            if _tag_of(member) == part or _label_of(member) == part:
                return member, True
        raise _Lost
    if isinstance(node, type) and issubclass(node, BaseModel):
        for name, info in node.model_fields.items():
            if part in (name, info.alias):
                return info.annotation, False
        raise _Lost
    origin, args = get_origin(node), get_args(node)
    if origin in (list, tuple, set, frozenset) and isinstance(part, int) and args:
        return args[0], False
    if origin is dict and len(args) == 2:
        return args[1], False
    raise _Lost


def _plain(node: Any) -> Any:
    """``node`` without Annotated wrappers and without ``| None`` (pydantic adds
    no location part for either)."""
    for _ in range(32):  # bounded: types nest a few levels, never more
        if get_origin(node) is Annotated:
            node = get_args(node)[0]
            continue
        members = _union_members(node)
        if members is not None:
            real = [m for m in members if m is not type(None)]
            if len(real) == 1 and len(real) < len(members):
                node = real[0]
                continue
        return node
    return node


def _union_members(node: Any) -> tuple[Any, ...] | None:
    if get_origin(node) in (Union, types.UnionType):
        return get_args(node)
    return None


def _tag_of(member: Any) -> str | None:
    if get_origin(member) is Annotated:
        for meta in get_args(member)[1:]:
            if isinstance(meta, Tag):
                return meta.tag
    return None


def _label_of(member: Any) -> str:
    """How pydantic names a member of a union without tags in a location:
    a model by its class name, anything else as it is written (``list[int]``)."""
    plain = _plain(member)
    if isinstance(plain, type):
        return plain.__name__
    return str(plain)


def _model_of(node: Any) -> type[BaseModel] | None:
    plain = _plain(node)
    if isinstance(plain, type) and issubclass(plain, BaseModel):
        return plain
    return None
