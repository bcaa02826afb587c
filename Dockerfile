# One image for every service of the table in deploy/devstack/src/devstack/services.py:
#   docker build --build-arg SERVICE=cars --build-arg PORT=8101 -t platform/cars .
# docker-compose.yml and deploy/k8s, generated from that table, build and run it this way.
# PYTHON_IMAGE is any Debian image with Python 3.11 and ca-certificates; machines that cannot
# pull python:3.11-slim use platform-local/python:3.11 (deploy/docker/offline.yml).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PYTHON=python3 \
    UV_PROJECT_ENVIRONMENT=/app/.venv PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt
# A TLS-intercepting proxy's CA: `make compose` and `make test-compose` copy the host's bundle
# into deploy/docker/ca/ (git-ignored). Only this stage downloads, so only it trusts them.
COPY deploy/docker/ca/ /tmp/extra-ca/
RUN cat /tmp/extra-ca/*.crt >> /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir uv==0.13.9
WORKDIR /src
# Third-party dependencies of every package, in a layer that changes only with the lockfile,
# so that all services share it and building them all installs dependencies once.
COPY pyproject.toml uv.lock ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --all-packages --no-install-workspace
COPY libs ./libs
COPY services ./services
ARG SERVICE
# An exact sync: the venv keeps only SERVICE's dependencies, its workspace packages as wheels.
RUN /opt/uv/bin/uv sync --frozen --no-dev --no-editable --package "${SERVICE}"

FROM ${PYTHON_IMAGE}
RUN useradd --uid 10001 --user-group --no-create-home app
COPY --from=build /app/.venv /app/.venv
ARG SERVICE
ARG MODULE=${SERVICE}
ARG PORT
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 HOST=0.0.0.0 PORT=${PORT} \
    SERVICE_MODULE=${MODULE}
USER app
EXPOSE ${PORT}
# exec: python becomes PID 1 and gets the stop signal itself.
CMD exec python -m "${SERVICE_MODULE}"
