"""chaoskit-postgres: see the package modules."""

__all__: list[str] = []
