"""authcheck: JWT forward-auth for ingress proxies, and the same decision as a library.

The tree shows the architecture:

- `authcheck.core`: the pure decision (no I/O): original request, rules, bearer, tokens,
  identity, answers.
- `authcheck.config`: the config file's model, reading, schema and lint.
- `authcheck.service`: the I/O edges of the HTTP service: ASGI app, key fetching,
  metrics, logs, the uvicorn worker factory.
- `authcheck.library`: library mode's `Guard`; `authcheck.flask`, `.starlette`,
  `.fastapi` and `.django` adapt it to each framework.
- `authcheck.cli`: the `authcheck` command.

`from authcheck import Guard` loads library mode on first use, so `import authcheck`
(the CLI, the service) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0.dev0"

if TYPE_CHECKING:
    from authcheck.library import Auth, Guard, Outcome, Requirement

__all__ = ["Auth", "Guard", "Outcome", "Requirement", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Auth", "Guard", "Outcome", "Requirement"):
        from authcheck import library

        return getattr(library, name)
    raise AttributeError(f"module 'authcheck' has no attribute {name!r}")
