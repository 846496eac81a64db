# One image for every production process: web (gunicorn), workers and beat (Celery), and
# the migrations.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    RELMAN_VAR_DIR=/app/var

# A fixed numeric user, so that Kubernetes can check it is not root (runAsNonRoot). The
# `steps` workers alone run as root, to run each script as the unprivileged
# RELMAN_SCRIPT_USER (nobody, which the image has); util-linux's setpriv does the switch.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/relman relman
# What the shipped step templates run on the built-in runner: curl (HTTP health check),
# rsync (Copy a folder) and psql/pg_dump (the PostgreSQL templates).
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl rsync postgresql-client \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app

COPY . .
RUN pip install . \
    && RELMAN_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && mkdir -p /app/var \
    && chown -R relman:relman /app/var

USER 10001:10001
EXPOSE 8000
CMD ["gunicorn", "relman.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "--access-logfile", "-"]
