"""Two small helpers every injector family needs: a base model for revert
states and a typed view of a fault's params."""

from __future__ import annotations

from typing import ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, JsonValue, ValidationError

from chaoskit._errors import InjectorError
from chaoskit._plugin_api import Params

__all__ = ["RevertState", "params_as"]

P = TypeVar("P", bound=Params)


class RevertState(BaseModel):
    """Base of an injector's revert state: a frozen, strict pydantic model that
    goes to the journal as JSON (:meth:`to_json`) and comes back from it, in
    this process or in ``chaoskit rollback`` (:meth:`parse`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: ClassVar[str] = ""
    """How :meth:`parse` names the state in its error (default: the class name)."""

    @classmethod
    def parse(cls, revert_state: JsonValue) -> Self:
        """The state from its JSON; :class:`InjectorError` if it is not one."""
        try:
            return cls.model_validate(revert_state)
        except ValidationError as exc:
            raise InjectorError(
                f"malformed {cls.label or cls.__name__} revert state {revert_state!r}: {exc}"
            ) from exc

    def to_json(self) -> JsonValue:
        dumped: JsonValue = self.model_dump(mode="json")
        return dumped


def params_as(params: Params, model: type[P]) -> P:
    """``params`` as the injector's own model (``ctx.params`` is typed as the
    base :class:`Params`); :class:`InjectorError` if it is another model."""
    if not isinstance(params, model):
        raise InjectorError(f"expected {model.__name__} parameters, got {type(params).__name__}")
    return params
