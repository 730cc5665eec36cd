"""`authcheck explain`: how the service would decide one request, in words."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from authcheck.config.model import Config
from authcheck.core.errors import Denial
from authcheck.core.original_request import OriginalRequest
from authcheck.core.paths import normalize_path
from authcheck.service.app import Service
from authcheck.service.decisions import decide_with_refresh


async def explain(config: Config, method: str, uri: str, host: str | None, token: str | None) -> int:
    """Print the matching rule and, with a token, the decision. Exit 0 allowed, 1 denied, 2 error."""
    try:
        request = OriginalRequest(method.upper(), host.lower() if host else None, normalize_path(urlsplit(uri).path))
    except Denial as denial:
        print(f"request: rejected: {denial.message} ({denial.code})")
        return 1
    print(f"request: {request.method} {request.host or '(any host)'} {request.path}")
    service = Service(config, decision_log="off")
    try:
        if token:
            await asyncio.gather(*(keys.refresh() for keys in service.key_store.issuers.values()))
        authorization = [f"Bearer {token}"] if token else []
        decision = await decide_with_refresh(lambda: service.gate.decide_for(request, authorization), service.key_store)
    finally:
        await service.key_store.close()
    if decision.rule is None:
        print(f"rule:    none matches; default is {config.default}")
    else:
        print(f"rule:    {decision.rule.name}: {decision.rule.describe()}")
    if decision.captures:
        print("captures: " + ", ".join(f"{{{name}}}={value}" for name, value in decision.captures.items()))
    for report in decision.report_only:
        print(f"report-only: {report.rule} would answer {report.status} {report.code}")
    if decision.identity is not None:
        scopes = " ".join(sorted(decision.identity.scopes)) or "(none)"
        print(f"token:   sub={decision.identity.subject} iss={decision.identity.issuer} scopes={scopes}")
    if decision.denial is None:
        print(f"answer:  {decision.status} allowed")
        return 0
    print(f"answer:  {decision.status} {decision.denial.code}: {decision.denial.message}")
    return 2 if decision.status >= 500 else 1
