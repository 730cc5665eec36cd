"""Library mode: the /verify decision inside a Python web app (SPEC, "Library mode")."""

from authcheck.library.guard import Guard, Outcome, Requirement
from authcheck.library.identity import Auth

__all__ = ["Auth", "Guard", "Outcome", "Requirement"]
