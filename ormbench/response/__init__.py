"""The endpoint's response: the page as the bytes a client receives.

``schema`` is the endpoint's Pydantic response model, ``render`` turns loaded items into a body
(Pydantic as FastAPI does it, orjson, or the server's own JSON), ``paths`` pairs a way to load
the page with a way to render it, ``decode`` reads a body back into a ``Page`` so every body
is checked against the oracle, and ``app`` serves the paths through a real FastAPI app.
"""
