# One image for the API, the worker and the one-shot migration (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md worker.py ./
COPY tendero ./tendero
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
RUN pip install --no-cache-dir . && useradd --create-home tendero
USER tendero
ENV TENDERO_ENV=production
CMD ["tendero", "api", "--host", "0.0.0.0", "--port", "8000"]
