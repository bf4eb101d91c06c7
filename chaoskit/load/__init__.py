"""Built-in load kinds (``http``), registered under ``chaoskit.load``."""

__all__: list[str] = []
