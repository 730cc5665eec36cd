"""The HTTP service's I/O edges: ASGI app, key fetching, metrics, logs, worker factory."""
