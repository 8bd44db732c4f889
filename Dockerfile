# fieldsync server image: `fieldsync serve` on port 8000 (compose.yaml runs two of these behind nginx).
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    FIELDSYNC_HOST=0.0.0.0 FIELDSYNC_PORT=8000 FIELDSYNC_LOG_FORMAT=json
# pg_dump/pg_restore for `fieldsync admin backup|restore` of a PostgreSQL database run from this image
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY constraints ./constraints
COPY schemas ./schemas
COPY sync ./sync
COPY service_report ./service_report
COPY server ./server
COPY client_sdk ./client_sdk
COPY tools ./tools
COPY fieldsync ./fieldsync
RUN pip install . && useradd --system --uid 10001 --home-dir /app fieldsync
USER fieldsync
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=3).status != 200)"]
CMD ["fieldsync", "serve"]
