# The flexbridge image: the worker, the sandbox, the ops verbs (replay, dlq) — one entry point.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY core ./core
COPY schemas ./schemas
COPY consumers ./consumers
COPY streams ./streams
COPY sandbox ./sandbox
RUN pip install . && useradd --system --uid 10001 flexbridge
USER flexbridge
EXPOSE 6066
ENTRYPOINT ["flexbridge"]
CMD ["worker"]
