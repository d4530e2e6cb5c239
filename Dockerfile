# syntax=docker/dockerfile:1
# The LRS image. One image, every role:
#   docker run IMAGE                                  -> lrs serve (embedded SQLite in /var/lib/lrs)
#   docker run IMAGE serve --host 0.0.0.0 --no-processors   (scaled out, with LRS_STORE and LRS_BUS)
#   docker run IMAGE process                          -> faust worker + outbox relay (LRS_BUS=kafka://...)
#   docker run -v lrs-data:/var/lib/lrs IMAGE credentials create --init --name N --scope S --json
# Settings come from LRS_* environment variables (see lrs/config.py and deploy/README.md).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LRS_DATA=/var/lib/lrs

# A fixed, unprivileged user (uid/gid 10001; the Kubernetes manifests name the same ids).
RUN groupadd --system --gid 10001 lrs \
 && useradd --system --uid 10001 --gid lrs --home-dir /var/lib/lrs --no-create-home \
            --shell /usr/sbin/nologin lrs \
 && mkdir -p /var/lib/lrs \
 && chown lrs:lrs /var/lib/lrs

WORKDIR /opt/lrs
COPY pyproject.toml README.md constraints.txt ./
COPY lrs ./lrs
COPY consumers ./consumers
COPY connectors ./connectors

# The JSON Schemas (lrs/schemas, linked from schemas/) and the bundled frameworks ship as
# package data, so a plain install works. Every dependency comes as a binary wheel for
# CPython 3.11 on linux/amd64 (checked with pip --only-binary=:all:): no compiler needed.
# constraints.txt pins every version to those the suite last ran with (scripts/lock).
RUN pip install -c constraints.txt ".[kafka,mongodb,moodle]" \
 && rm -rf /opt/lrs/build

# Root owns the code; the service can write only its data directory, a volume: the embedded
# store, `lrs process`'s small faust working directory (lrs-processors-data/) and the
# connectors' checkpoints (checkpoints/, compose mounts a volume of its own there) live in
# it. Made here with the service's owner, so that a new named volume starts writable.
RUN mkdir -p /var/lib/lrs/checkpoints \
 && chown -R 10001:10001 /var/lib/lrs \
 && chmod -R 0700 /var/lib/lrs
VOLUME ["/var/lib/lrs"]
# Numeric, so that Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/lrs
EXPOSE 8000

# /health answers 200 while the process serves HTTP (no store check; /ready does that).
# python:3.11-slim has no curl, hence urllib. Only meaningful for `serve` on port 8000:
# compose and Kubernetes switch it off, or use their own probes, for `lrs process`.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

ENTRYPOINT ["lrs"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
