# The newswire application image: workers, beat, API and CLI share it.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY workers ./workers
COPY newswire ./newswire
RUN pip install --no-cache-dir .
COPY config ./config
COPY seeds ./seeds
RUN useradd --system --home /app newswire && mkdir -p /app/.runtime && chown newswire /app/.runtime
USER newswire
ENV NEWSWIRE_CONFIG_DIR=/app/config
CMD ["newswire", "--help"]
