# syntax=docker/dockerfile:1
# authcheck container image: `docker build -t authcheck .`, then
#   docker run -p 8080:8080 -v "$PWD/authcheck.yaml:/etc/authcheck/authcheck.yaml:ro" authcheck
# (another path: -e AUTHCHECK_CONFIG=/path/in/container.yaml).

# Build stage: turn the source into a wheel. Nothing from here but the wheel is kept.
FROM python:3.11-slim-bookworm AS builder
WORKDIR /src
COPY pyproject.toml README.md ./
COPY authcheck ./authcheck
RUN pip wheel . --no-deps --no-cache-dir -w dist

# Final stage: the dependencies pinned in requirements/runtime.lock (hash-checked), then the wheel
# without dependency resolution, so the image runs exactly the versions CI tested. No source tree.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AUTHCHECK_CONFIG=/etc/authcheck/authcheck.yaml \
    AUTHCHECK_HOST=0.0.0.0 \
    AUTHCHECK_PORT=8080
RUN --mount=type=bind,source=requirements/runtime.lock,target=/tmp/runtime.lock \
    --mount=type=bind,from=builder,source=/src/dist,target=/dist \
    pip install --no-cache-dir --require-hashes -r /tmp/runtime.lock \
    && pip install --no-cache-dir --no-deps /dist/*.whl \
    && pip check \
    && groupadd --system --gid 10001 authcheck \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin authcheck
USER 10001:10001
EXPOSE 8080
# No curl in the image: the check uses the standard library; any error or non-2xx fails it.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['AUTHCHECK_PORT'], timeout=2)"]
ENTRYPOINT ["authcheck"]
CMD ["serve"]
