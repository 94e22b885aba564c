# One image for the worker, the bot and the migrate step (CPU build of torch).
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 POEMBOT_DATA_DIR=/data
WORKDIR /app
RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0
COPY pyproject.toml README.md ./
COPY model model
COPY bot bot
COPY migrations migrations
RUN pip install -e . && useradd --create-home poembot && mkdir -p /data && chown poembot /data
USER poembot
VOLUME /data
CMD ["python", "-m", "bot"]
