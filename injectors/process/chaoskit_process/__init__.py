"""chaoskit-process: see the package modules."""

__all__: list[str] = []
