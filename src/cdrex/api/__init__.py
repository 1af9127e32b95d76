"""The HTTP layer: JSON:API over ASGI (Starlette)."""
