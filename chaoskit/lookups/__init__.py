"""Built-in lookup kinds (``http``), registered under ``chaoskit.lookups``."""

__all__: list[str] = []
