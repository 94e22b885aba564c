# One image for the worker, the bot and the migrate step (CPU build of torch).
FROM python:3.11-slim
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 POEMBOT_DATA_DIR=/data
WORKDIR /app
# the CJK serif face the poem cards are drawn in
RUN apt-get update && apt-get install -y --no-install-recommends fonts-noto-cjk && rm -rf /var/lib/apt/lists/*
# dependencies first, in their own layers: a code change does not reinstall them
RUN pip install --index-url "$TORCH_INDEX" torch==2.13.0
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
    open('/tmp/deps.txt', 'w').write('\n'.join(x for x in d if not x.startswith('torch')))" \
    && pip install -r /tmp/deps.txt
COPY model model
COPY bot bot
COPY migrations migrations
COPY alembic.ini ./
RUN pip install --no-deps -e . && useradd --create-home poembot && mkdir -p /data && chown poembot /data
USER poembot
VOLUME /data
# the bot closes the gateway, the worker client and the database on SIGTERM (docker stop)
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
