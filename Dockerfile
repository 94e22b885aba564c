# Two images from one file: `bot` (the bot and its migrate step: no torch) and `worker`
# (the model, with the CPU build of torch). `docker compose build` builds both. The code
# runs from /app (PYTHONPATH); the project's dependencies are installed from pyproject.toml.
FROM python:3.11-slim AS base
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 POEMBOT_DATA_DIR=/data PYTHONPATH=/app
WORKDIR /app
COPY pyproject.toml ./
# the bot's dependencies, in their own layer: a code change does not reinstall them
RUN python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
    open('/tmp/deps.txt', 'w').write('\n'.join(d))" \
    && pip install -r /tmp/deps.txt
RUN useradd --create-home poembot && mkdir -p /data && chown poembot /data

FROM base AS worker
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0
RUN python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']; \
    open('/tmp/worker.txt', 'w').write('\n'.join(x for x in d['worker'] if not x.startswith('torch')))" \
    && pip install -r /tmp/worker.txt
COPY model model
USER poembot
STOPSIGNAL SIGTERM
CMD ["python", "-m", "model", "serve", "--host", "0.0.0.0", "--port", "8500"]

FROM base AS bot
# the CJK serif face the poem cards are drawn in
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
# of the model, the bot imports two modules: a poem's text rules and the contract (no tensors)
COPY model/__init__.py model/text.py model/contract.py model/
COPY bot bot
COPY migrations migrations
USER poembot
VOLUME /data
# the bot closes the gateway, the worker client and the database on SIGTERM (docker stop)
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
