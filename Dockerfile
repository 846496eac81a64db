# One image for the three production processes: web (gunicorn), worker and beat (Celery).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app \
    RELMAN_VAR_DIR=/app/var

RUN useradd --system --create-home --home-dir /home/relman relman
WORKDIR /app

COPY . .
RUN pip install . \
    && RELMAN_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && mkdir -p /app/var \
    && chown -R relman:relman /app/var

USER relman
EXPOSE 8000
CMD ["gunicorn", "relman.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "--access-logfile", "-"]
