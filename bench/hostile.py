"""A hostile run, as issue 25 describes one, that prints counts: what was tried and how
often the answer was an apology, a traceback, a 5xx or a broken poem (each should be 0).

    python bench/hostile.py [--rounds 20] [--postgres postgresql+asyncpg://...] [--fuzz 2000]

1. Races: each round a poem's owner confirms `!forgetme` while other users vary, rate,
   favourite, rewrite, blend and `!poem fav` that owner's poems, all at once, through
   discord.py's dispatch (bot.local) on a real SQLite file (and PostgreSQL if given).
2. Start-ups with settings that cannot work (`python -m bot --console`, a fresh process
   each): the exit status must be 2 with one `poembot:` line and no traceback.
3. The HTTP worker (`python -m model serve`, its own process): malformed HTTP, hostile
   bodies and options that once broke poems; no 5xx, no ERROR line, every poem with its
   characters unrepeated and of its form.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.local import CHANNEL_ID
from bot.replies import APOLOGY
from harness import ROOT, free_port, local_bot  # one harness for the tests and the benchmarks


class Errors(logging.Handler):
    """Counts ERROR records (each a traceback in a real log)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# -- 1. races ---------------------------------------------------------------------------------
async def races(url: str, rounds: int, seed: int) -> dict:
    errors = Errors()
    logging.getLogger().addHandler(errors)
    rng = random.Random(seed)
    counts = {"commands": 0, "presses": 0, "apologies": 0, "told the poem is gone": 0}
    try:
        async with local_bot(url, channels=16) as (local, _):  # as `python -m bot` wires it
            for r in range(rounds):
                owner = 1_000 + r
                ids = []
                for k in range(3):
                    (sent,) = await local.say(f"!poem {rng.randrange(10**6)}", user_id=owner)
                    ids.append(int(sent.embeds[0]["title"].split("#")[1].split()[0]))
                others = [2_000 + 10 * r + i for i in range(6)]
                for u in others[:2]:
                    await local.say(f"!fav {ids[0]}", user_id=u)
                asked = (await local.say("!forgetme", user_id=owner))[0]
                texts = [
                    f"!vary {ids[0]}",
                    f"!rate {ids[1]} 4",
                    f"!fav {ids[2]}",
                    f"!rewrite {ids[0]} 2",
                    f"!blend {ids[0]} {ids[1]} 3",
                    "!poem fav",
                    f"!rate {ids[0]} 5",
                    f"!unfav {ids[0]}",
                ]
                jobs = [
                    local.first_reply(t, user_id=others[i % len(others)], channel_id=CHANNEL_ID + 1 + i, timeout=60)
                    for i, t in enumerate(rng.sample(texts, len(texts)))
                ]
                confirm = next(
                    c["custom_id"]
                    for row in asked.components
                    for c in row["components"]
                    if c.get("custom_id", "").startswith("forget:confirm")
                )
                press = local.click(asked.message, confirm, user_id=owner)
                at = rng.randrange(len(jobs) + 1)
                jobs.insert(at, press)
                mark = len(local.sent)
                await asyncio.gather(*jobs, return_exceptions=True)
                await asyncio.sleep(0.05)
                counts["commands"] += len(texts)
                counts["presses"] += 1
                replies = [s.text() for s in local.sent[mark:]]
                counts["apologies"] += sum(APOLOGY in t for t in replies)
                counts["told the poem is gone"] += sum(
                    ("no poem #" in t.lower() or "was deleted" in t) for t in replies
                )
    finally:
        logging.getLogger().removeHandler(errors)
    counts["error log records"] = len(errors.records)
    counts["first errors"] = [f"{r.name}: {r.getMessage()[:120]}" for r in errors.records[:3]]
    return counts


# -- 2. start-ups -----------------------------------------------------------------------------
def bad_checkpoints(tmp: Path) -> list[dict]:
    """Copies of the shipped 5-character checkpoint, each broken one way."""
    src = ROOT / "model" / "checkpoints" / "quatrain5"
    cases = []

    def copy(name: str) -> Path:
        d = tmp / name
        d.mkdir()
        for suffix in (".json", ".safetensors", ".subjects.safetensors"):
            shutil.copy(f"{src}{suffix}", d / f"quatrain5{suffix}")
        return d / "quatrain5"

    p = copy("flipped")
    data = bytearray(p.with_suffix(".safetensors").read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.with_suffix(".safetensors").write_bytes(bytes(data))
    cases.append({"POEMBOT_CHECKPOINT_5": str(p)})
    p = copy("truncated")
    data = p.with_suffix(".safetensors").read_bytes()
    p.with_suffix(".safetensors").write_bytes(data[: len(data) // 2])
    cases.append({"POEMBOT_CHECKPOINT_5": str(p)})
    for name, card in (("notjson", "{oops"), ("alist", "[1, 2]")):
        p = copy(name)
        p.with_suffix(".json").write_text(card)
        cases.append({"POEMBOT_CHECKPOINT_5": str(p)})
    p = copy("badsampler")
    card = json.loads(p.with_suffix(".json").read_text())
    card.setdefault("sampler", {})["temperature"] = -1
    p.with_suffix(".json").write_text(json.dumps(card))
    cases.append({"POEMBOT_CHECKPOINT_5": str(p)})
    cases.append({"POEMBOT_CHECKPOINT_5": str(ROOT / "model" / "checkpoints" / "quatrain7")})
    cases.append({"POEMBOT_CHECKPOINT_5": "/nonexistent/q5"})
    return cases


BAD_SETTINGS = [
    {"POEMBOT_POEM_COOLDOWN_S": "5s"},
    {"POEMBOT_BLEND_COOLDOWN_S": "inf"},
    {"POEMBOT_MAX_IN_FLIGHT": "0"},
    {"POEMBOT_PREFIX": " "},
    {"POEMBOT_METRICS_PORT": "70000"},
    {"LOG_LEVEL": "LOUD"},
    {"DATABASE_URL": "nonsense"},
    {"DATABASE_URL": "sqlite+aiosqlite:///"},
    {"DATABASE_URL": "sqlite:///x.db"},
    {"DATABASE_URL": "postgresql+asyncpg://u:pw@127.0.0.1:99999/db"},
    {"DATABASE_URL": "postgresql+asyncpg://u:pw@127.0.0.1:abc/db"},
    {"DATABASE_URL": "postgresql+asyncpg://u:pw@127.0.0.1:1/db"},
    {"WORKER_URL": "not a url"},
    {"WORKER_URL": "http://worker:0"},
    {"WORKER_URL": "http://a:1,,http://b:2"},
    {"POEMBOT_DATA_DIR": "/proc/poembot"},
    {"POEMBOT_CARD_FONT": str(ROOT / "README.md")},
    {"POEMBOT_CARD_FONT": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"},
    {"POEMBOT_CARD_FONT": "/nonexistent.ttc"},
    {"POEMBOT_MIGRATE_ON_START": "0"},
]


def startups(tmp: Path) -> dict:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POEMBOT_", "DATABASE_URL", "WORKER_URL", "DISCORD_TOKEN", "LOG_LEVEL"))
    }
    future = tmp / "future"
    cases = [dict(c) for c in BAD_SETTINGS] + bad_checkpoints(tmp) + [{"POEMBOT_DATA_DIR": str(future)}]
    counts = {"start-ups": 0, "status 2 with one line": 0, "tracebacks": 0, "other": []}
    # a database migrated by "a newer poembot": made here, then marked with an unknown revision
    subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        env={**clean, "POEMBOT_DATA_DIR": str(future)},
    )
    import sqlite3

    with sqlite3.connect(future / "poembot.sqlite3") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    for i, env in enumerate(cases):
        env = {"POEMBOT_DATA_DIR": str(tmp / f"data{i}"), **env}
        run = subprocess.run(
            [sys.executable, "-m", "bot", "--console"],
            cwd=ROOT,
            input="",
            text=True,
            capture_output=True,
            timeout=180,
            env={**clean, **env},
        )
        lines = [line for line in run.stderr.splitlines() if line.startswith("poembot:")]
        counts["start-ups"] += 1
        counts["tracebacks"] += "Traceback" in run.stderr
        if run.returncode == 2 and len(lines) == 1:
            counts["status 2 with one line"] += 1
        else:
            counts["other"].append((env, run.returncode, run.stderr[-200:]))
    return counts


# -- 3. the HTTP worker -----------------------------------------------------------------------
async def raw(port: int, data: bytes, wait_s: float = 10.0) -> bytes:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:  # not listening yet
        return b""
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), wait_s)
    except (TimeoutError, ConnectionError):
        return b""
    finally:
        writer.close()


def post(path: str, body: bytes, headers: str = "Content-Type: application/json\r\n", length: int | None = None):
    length = len(body) if length is None else length
    return (
        f"POST {path} HTTP/1.1\r\nHost: w\r\n{headers}Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode() + body


MALFORMED = [
    b"POST /v1/sample HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nab\r\n",
    b"POST /v1/sample HTTP/1.1\r\nHost: w\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
    b"POST /v1/sample HTTP/1.1\r\nHost: w\r\nX: a\x00b\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /v1/sample HTTP/1.1\r\nHost: w\r\n" + b"".join(b"X%d: 1\r\n" % i for i in range(200)) + b"\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
]


def hostile_body(rng: random.Random) -> tuple[str, bytes]:
    junk = [None, True, -1, 0, 2**70, 1e308, 5e-324, 3e38, -3e38, "", "床前明月光", "x" * 300, [], {}]
    path = rng.choice(["/v1/sample", "/v1/blend", "/v1/encode", "/v1/vary", "/v1/rewrite"])
    kind = rng.randrange(4)
    if kind == 0:
        opts = {
            rng.choice(["temperature", "top_k", "top_p", "min_p", "guidance", "detail", "continuity"]): rng.choice(junk)
            for _ in range(2)
        }
        return "/v1/sample", json.dumps({"seed": rng.randrange(1000), "options": opts}).encode()
    if kind == 1:
        big = rng.choice([3e38, -3e38, 1e30, 0.0, 5e-324])
        return "/v1/blend", json.dumps({"a": [big] * 128, "b": [-big] * 128, "steps": 3}).encode()
    if kind == 2:
        keys = ["n", "seed", "form", "options", "a", "b", "steps", "text", "latent", "subject", "acrostic", "line"]
        return path, json.dumps({rng.choice(keys): rng.choice(junk) for _ in range(rng.randrange(1, 5))}).encode()
    return path, bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 200)))


def poem_ok(text: str) -> bool:
    """Each line of its form, and no character twice in the poem (the sampler's rule)."""
    body = [ch for ch in text if ch not in "，。"]
    return len(text) in (20, 28) and len(set(body)) == len(body)


async def worker(n: int, seed: int) -> dict:
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="poembot-worker-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "model", "serve", "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    counts = {"requests": 0, "5xx": 0, "2xx poems": 0, "broken poems": 0, "413 within 2 s": 0}
    try:
        for _ in range(600):
            if (await raw(port, b"GET /healthz HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n", 1)).startswith(
                b"HTTP/1.1 200"
            ):
                break
            await asyncio.sleep(0.2)
        rng = random.Random(seed)
        for i in range(n):
            if i % 10 == 0:
                request = MALFORMED[(i // 10) % len(MALFORMED)]
            elif i % 50 == 1:
                t0 = time.perf_counter()
                reply = await raw(port, post("/v1/sample", b"{}", length=10_000_000))
                counts["413 within 2 s"] += reply.startswith(b"HTTP/1.1 413") and time.perf_counter() - t0 < 2
                counts["requests"] += 1
                continue
            else:
                request = post(*hostile_body(rng))
            reply = await raw(port, request)
            counts["requests"] += 1
            head, _, body = reply.partition(b"\r\n\r\n")
            status = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
            counts["5xx"] += status >= 500
            if status == 200 and body.startswith(b"{"):
                reply_json = json.loads(body)
                poems = reply_json.get("poems") or reply_json.get("steps") or []
                for p in poems:
                    counts["2xx poems"] += 1
                    counts["broken poems"] += not poem_ok(p["text"])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    text = Path(log.name).read_text(errors="replace")
    counts["ERROR lines"] = sum(" ERROR " in line for line in text.splitlines())
    counts["tracebacks"] = text.count("Traceback")
    counts["WARNING lines"] = sum(" WARNING " in line for line in text.splitlines())
    os.unlink(log.name)
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=20, help="forgetme races a database")
    p.add_argument("--postgres", help="also race on this PostgreSQL database (emptied first? no: use a fresh one)")
    p.add_argument("--fuzz", type=int, default=2000, help="hostile HTTP requests to the worker")
    p.add_argument("--seed", type=int, default=25)
    p.add_argument("--skip", nargs="*", default=[], choices=["races", "startups", "worker"])
    args = p.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="poembot-hostile-") as tmp:
        if "races" not in args.skip:
            urls = [f"sqlite+aiosqlite:///{tmp}/races.sqlite3"] + ([args.postgres] if args.postgres else [])
            for url in urls:
                t0 = time.perf_counter()
                print(
                    url.split(":")[0],
                    "races:",
                    asyncio.run(races(url, args.rounds, args.seed)),
                    f"({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
        if "startups" not in args.skip:
            t0 = time.perf_counter()
            print("start-ups:", startups(Path(tmp)), f"({time.perf_counter() - t0:.0f} s)", flush=True)
        if "worker" not in args.skip:
            t0 = time.perf_counter()
            print(
                "worker:", asyncio.run(worker(args.fuzz, args.seed)), f"({time.perf_counter() - t0:.0f} s)", flush=True
            )


if __name__ == "__main__":
    main()
