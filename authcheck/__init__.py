"""authcheck: JWT forward-auth for ingress proxies, and the same decision as a library.

The tree shows the architecture:

- `authcheck.core`: the pure decision (no I/O): original request, rules, bearer, tokens,
  identity, answers.
- `authcheck.config`: the config file's model, reading, schema and lint.
- `authcheck.service`: the I/O edges of the HTTP service: ASGI app, key fetching,
  metrics, logs, the uvicorn worker factory.
- `authcheck.cli`: the `authcheck` command.
"""

__version__ = "0.2.0.dev0"
