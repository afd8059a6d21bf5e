FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 BIND=0.0.0.0:8000 IVR_FLOWS_DIR=/app/flows \
    IVR_SPOOL_DIR=/spool
WORKDIR /app
COPY requirements.txt pyproject.toml ./
RUN pip install --no-cache-dir -r requirements.txt
COPY ivr ./ivr
COPY flows ./flows
COPY deploy/gunicorn.conf.py ./deploy/gunicorn.conf.py
RUN pip install --no-cache-dir --no-deps . \
    && useradd --system --no-create-home --uid 10001 onshore \
    && mkdir /spool /anchors && chown onshore /spool /anchors
USER onshore
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=2s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=1)"
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "ivr:create_app()"]
