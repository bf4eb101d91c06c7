"""Built-in probe kinds: http, tcp, command."""

__all__: list[str] = []
