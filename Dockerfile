# One image for every agentwire service; docker-compose.yml picks the service by command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY devstack ./devstack
RUN pip install --no-cache-dir .
ENV PYTHONUNBUFFERED=1
