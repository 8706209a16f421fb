# The service image: one image for every role (api, projection worker, relay), chosen by
# the command. Build: docker build -t privacy-crm .   Run: docker compose up (see README).

# Pinned to the Python patch release and the Debian release: python:3.11-slim moves to a new
# Debian (and a new OpenSSL, glibc) under the same tag. Where the registry is reachable, pin
# the digest too (docker buildx imagetools inspect python:3.11.15-slim-bookworm), as
# python:3.11.15-slim-bookworm@sha256:<digest>; tests/unit/test_compose.py accepts either.
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml constraints.txt README.md ./
COPY domain domain
COPY crypto crypto
COPY sqlstore sqlstore
COPY storage storage
COPY projections projections
COPY service service
COPY api api
RUN /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt .

FROM ${PYTHON_IMAGE}
# uid 10001 owns the key files Compose mounts (deploy/init-secrets.sh): keep them in step.
RUN useradd --system --uid 10001 --home-dir /var/lib/crm --create-home crm
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CRM_DATA_DIR=/var/lib/crm
USER crm
WORKDIR /var/lib/crm
EXPOSE 8000
ENTRYPOINT ["crm"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
