# Shipyard's server image: `make image`, or `docker build -t shipyard .`
#
# Two stages. The builder turns the source into a wheel and installs it, with the pinned
# dependencies of constraints.txt, into a virtual environment at /opt/shipyard; the runtime
# stage is the slim Python image plus that one directory. No compiler, pip cache or source
# tree reaches the runtime image.
#
# The runtime runs as uid 10001 and writes nowhere but SHIPYARD_HOME (/data) and TMPDIR
# (/tmp), so it runs with a read-only root file system:
#
#   docker run --read-only --tmpfs /tmp -v shipyard-data:/data -p 8080:8080 shipyard:0.1.0 serve iris@production
#
# Build arguments: PYTHON_IMAGE (the base of both stages), EXTRAS (optional dependency groups
# of pyproject.toml, comma-separated, e.g. "xgboost,lightgbm").

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ARG EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/shipyard \
 && /opt/shipyard/bin/python -m pip install --quiet --upgrade pip
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
# The wheel, not an editable install: the runtime stage gets no /src. Byte-code is compiled
# here because the runtime's root file system is read-only: Python could not write it there.
RUN /opt/shipyard/bin/python -m pip wheel --quiet --no-deps --wheel-dir /wheels . \
 && wheel="$(ls /wheels/shipyard-*.whl)" \
 && /opt/shipyard/bin/python -m pip install --quiet -c constraints.txt "${wheel}${EXTRAS:+[$EXTRAS]}" \
 && /opt/shipyard/bin/python -m pip uninstall --quiet --yes pip \
 && /opt/shipyard/bin/python -m compileall -q -j 0 /opt/shipyard/lib \
 && /opt/shipyard/bin/shipyard --version


FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="shipyard" \
      org.opencontainers.image.description="Shipyard model server: registry, serving, rollout and monitoring" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric uid/gid, so that Kubernetes' runAsNonRoot can check it and volumes can be
# prepared for it (deploy/kubernetes uses the same numbers).
RUN groupadd --gid 10001 shipyard \
 && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin shipyard \
 && install -d -o 10001 -g 10001 -m 0700 /data
COPY --from=builder /opt/shipyard /opt/shipyard
# SHIPYARD_HOST: inside a container the server must listen on every interface to be reached
# at all; outside one the default stays 127.0.0.1. The server still refuses a non-loopback
# address while some route is anonymous (see docs/security.md).
# HOME and XDG_CACHE_HOME: libraries that cache in the user's home write to the tmpfs.
ENV PATH=/opt/shipyard/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SHIPYARD_HOME=/data \
    SHIPYARD_HOST=0.0.0.0 \
    SHIPYARD_PORT=8080 \
    SHIPYARD_GRPC_PORT=8081 \
    TMPDIR=/tmp \
    HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8080 8081
# Python, not curl: the slim image has no curl. Liveness only: readiness (models loaded) is
# for a load balancer to judge, and a container that is alive but loading is not unhealthy.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-I", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('SHIPYARD_PORT', '8080') + '/v2/health/live', timeout=4)"]
ENTRYPOINT ["shipyard"]
CMD ["--help"]
