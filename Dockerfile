# Production image: the same code as `make run`, without the embedded database and Redis
# (docker-compose.yml provides PostgreSQL with pgvector and Redis).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DEBUG=0
WORKDIR /app

RUN useradd --create-home --uid 1000 omnidesk
COPY . .
# torch from PyTorch's CPU index (PyPI's default build is the multi-GB CUDA one), then the extras.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir '.[qr,local-embeddings]' \
    && SECRET_KEY=build OMNIDESK_ENCRYPTION_KEYS=$(python -c "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())") \
       DATABASE_URL=postgresql://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
       python manage.py collectstatic --noinput --verbosity 0

USER omnidesk
EXPOSE 8000
CMD ["python", "scripts/web.py", "--bind", "0.0.0.0", "--port", "8000"]
