# Two images from one file: `bot` (the bot and its migrate step: no torch) and `worker`
# (the model, with the CPU build of torch). `docker compose build` builds both. Each image
# installs only its own packages, every file checked against its hash in a lock file:
# requirements/bot.txt (pyproject.toml's dependencies) and requirements/worker.txt
# (requirements/worker.in), both written by `make lock`. The hashes are those of the linux
# x86_64 wheels: the images are amd64. The code runs from /app (PYTHONPATH).
FROM python:3.11-slim AS base
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 POEMBOT_DATA_DIR=/data PYTHONPATH=/app
WORKDIR /app
RUN useradd --create-home poembot && mkdir -p /data && chown poembot /data

FROM base AS worker
# torch's CPU build is not on PyPI: pip looks on PyTorch's page of torch wheels as well
# (whichever index a file comes from, its hash must be the lock's)
ARG TORCH_FIND_LINKS=https://download.pytorch.org/whl/cpu/torch/
COPY requirements/worker.txt requirements/
RUN pip install --require-hashes --no-deps --find-links "$TORCH_FIND_LINKS" -r requirements/worker.txt
# the model's code and its shipped checkpoints (the wheel carries none)
COPY model model
USER poembot
EXPOSE 8500
# healthy once the checkpoints are loaded and the server answers
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8500/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "model", "serve", "--host", "0.0.0.0", "--port", "8500"]

FROM base AS bot
# the CJK serif face the poem cards are drawn in
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
COPY requirements/bot.txt requirements/
RUN pip install --require-hashes --no-deps -r requirements/bot.txt
# of the model, the bot imports a poem's text rules, the contract (no tensors) and the
# names of the worker's settings (so that a typo in any variable is named)
COPY model/__init__.py model/text.py model/contract.py model/options.py model/wire.py model/reply_check.py model/prosody.py model/metre.py model/
COPY model/worker/__init__.py model/worker/settings.py model/worker/
COPY bot bot
COPY migrations migrations
USER poembot
VOLUME /data
# /metrics, and /healthz: 200 only while the bot is connected to Discord (ready, every
# shard up). POEMBOT_METRICS_PORT=0 turns both off, and the check with them.
ENV POEMBOT_METRICS_PORT=9100
EXPOSE 9100
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('POEMBOT_METRICS_PORT', '0'); port in ('', '0') and sys.exit(0); urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]
# the bot closes the gateway, the worker client and the database on SIGTERM (docker stop)
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
