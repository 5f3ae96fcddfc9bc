"""The OpenAI-compatible HTTP server (Litestar + msgspec)."""
