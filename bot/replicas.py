"""The worker replicas WORKER_URL names, as the bot's HTTP client sees them (`ReplicaPool`):
which one a request goes to (the fewest requests outstanding, ties in turn), which are down
and the /healthz probe that brings them back, the contract handshake a replica passes before
its first request, and host names looked up again every RESOLVE_S seconds (a name with
several addresses is one replica an address). Sending a request, retrying it elsewhere and
telling a refusal from a failure are the client's (bot/worker_client.py)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from model.contract import version  # torch-free

log = logging.getLogger("poembot.bot.worker")

RESOLVE_S = 10.0  # how often WORKER_URL's host names are looked up again
OTHER_CONTRACT_S = 30.0  # how long a replica of another contract version stays out before it is asked again


def _is_address(host: str | None) -> bool:
    try:
        ipaddress.ip_address(host or "")
        return True
    except ValueError:
        return False


async def _addresses(host: str, port: int) -> list[str]:
    """The addresses a host name has now: its IPv4 ones, else its IPv6 ones."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    v4 = sorted({i[4][0] for i in infos if i[0] == socket.AF_INET})
    return v4 or sorted({i[4][0] for i in infos if i[0] == socket.AF_INET6})


@dataclass
class Replica:
    """One worker replica as the client sees it."""

    url: str
    outstanding: int = 0  # requests sent and not yet answered
    down_until: float = 0.0  # (monotonic) not chosen before this unless every replica is down
    failures: int = 0  # consecutive failures
    source: str = ""  # the WORKER_URL entry it came from (a host name may have several replicas)
    contract: str | None = None  # its contract version, once its /healthz says it is ours; None: ask first
    other: str | None = None  # the other contract version it last reported (said once in the log)
    asked: int = 0  # /healthz handshakes made (concurrent requests share one)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)


class ReplicaPool:
    """The replicas of the configured URLs (`replicas`, in order). `session` gives the client's
    aiohttp session, which the handshakes and probes share with its requests; `resolve(host,
    port)` looks a host name up (the system's resolver unless a test gives another)."""

    def __init__(
        self,
        urls: list[str],
        session: Callable[[], aiohttp.ClientSession],
        down_s: float = 2.0,
        probe_s: float = 1.0,
        resolve: Callable[[str, int], Awaitable[list[str]]] | None = None,
    ):
        self.urls = urls  # as configured
        self.replicas = [Replica(u, source=u) for u in urls]
        self._session = session
        self._resolve = resolve or _addresses
        self._resolved_at = -RESOLVE_S
        self.down_s = down_s
        self.probe_s = probe_s
        self._probes: dict[str, asyncio.Task] = {}  # replica -> its /healthz probe while it is down
        self._turn = 0

    def choose(self, tried: set[str]) -> Replica:
        """The least busy replica that is up and not yet tried for this request (else the one
        back soonest)."""
        now = time.monotonic()
        fresh = [e for e in self.replicas if e.url not in tried] or self.replicas
        up = [e for e in fresh if e.down_until <= now]
        if not up:
            return min(fresh, key=lambda e: e.down_until)
        self._turn += 1
        return min(up, key=lambda e: (e.outstanding, (self.replicas.index(e) - self._turn) % len(self.replicas)))

    @staticmethod
    def answered(e: Replica) -> None:
        """`e` answered a request well: it is up, its failures forgotten."""
        e.failures, e.down_until = 0, 0.0

    def failed(self, e: Replica, why: str) -> None:
        """`e` could not answer: down for a while (longer each time in a row), probed meanwhile."""
        e.contract = None  # what answers there next may be another process: ask it again
        e.failures += 1
        e.down_until = time.monotonic() + min(30.0, self.down_s * e.failures)
        log.warning("worker at %s failed (%s); marked down for %.0fs", e.url, why, e.down_until - time.monotonic())
        if len(self.replicas) > 1 and (e.url not in self._probes or self._probes[e.url].done()):
            self._probes[e.url] = asyncio.get_running_loop().create_task(self._probe(e), name=f"probe {e.url}")

    async def _probe(self, e: Replica) -> None:
        """Ask a replica that is down for /healthz until it answers; then it is up again."""
        timeout = aiohttp.ClientTimeout(total=max(0.5, self.probe_s))
        while e.down_until > 0:
            await asyncio.sleep(self.probe_s)
            try:
                async with self._session().get(e.url + "/healthz", timeout=timeout) as resp:
                    if resp.status == 200:
                        self.answered(e)
                        log.warning("worker at %s is back", e.url)
                        return
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                pass

    async def handshake(self, e: Replica) -> bool:
        """Whether `e` speaks this bot's contract, from its /healthz (asked once, before its
        first request and after it fails; concurrent requests share the answer). A replica of
        another version (an old worker reports none) is kept out of rotation, said once in
        the log, and asked again after OTHER_CONTRACT_S; one that cannot answer is down."""
        if e.contract is not None:
            return True
        if e.other is not None and e.down_until > time.monotonic():
            return False  # (out of rotation: not asked again before its pause is over)
        asked = e.asked
        async with e.lock:
            if e.asked != asked:  # another request asked while this one waited: its answer holds
                return e.contract is not None
            try:
                async with self._session().get(e.url + "/healthz") as resp:
                    health = await resp.json() if resp.status == 200 else None
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as err:
                self.failed(e, f"/healthz: {str(err) or err.__class__.__name__}")
                return False
            finally:
                e.asked += 1
            if not isinstance(health, dict) or health.get("status") != "ok":
                self.failed(e, f"/healthz answered {resp.status} with no poem worker's health")
                return False
            return self._agree(e, health.get("contract"))

    def _agree(self, e: Replica, theirs) -> bool:
        """Whether the contract version `e`'s /healthz named is this bot's; if not, `e` is out of
        rotation for OTHER_CONTRACT_S (said in the log when its version changes)."""
        ours = version()
        if theirs != ours:
            theirs = theirs if isinstance(theirs, str) and theirs else "none (a worker older than the handshake)"
            e.down_until = time.monotonic() + OTHER_CONTRACT_S
            if theirs != e.other:
                e.other = theirs
                log.warning(
                    "worker at %s speaks contract %s, this bot %s: kept out of rotation until they match",
                    e.url,
                    theirs[:40],
                    ours,
                )
            return False
        if e.other is not None:
            log.warning("worker at %s now speaks contract %s: back in rotation", e.url, ours)
        e.contract, e.other = ours, None
        return True

    async def refresh(self) -> None:
        """Every RESOLVE_S seconds, look up the host names of WORKER_URL again: a name with
        several addresses (compose's `--scale worker=3`) is one replica an address. Replicas
        that stay keep their state; a lookup that fails keeps what that name had."""
        if time.monotonic() - self._resolved_at < RESOLVE_S:
            return
        self._resolved_at = time.monotonic()
        found: list[tuple[str, str]] = []  # (replica's URL, the configured URL it came from)
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme != "http" or _is_address(parts.hostname):  # (https keeps its name, for TLS)
                found.append((url, url))
                continue
            try:
                addresses = await self._resolve(parts.hostname, parts.port or 80)
            except OSError:
                found += [(e.url, url) for e in self.replicas if e.source == url] or [(url, url)]
                continue
            if not addresses:
                found.append((url, url))
                continue
            port = parts.port or 80
            found += [(f"http://{f'[{a}]' if ':' in a else a}:{port}{parts.path}", url) for a in addresses]
        known = {e.url: e for e in self.replicas}
        fresh = [known.get(u) or Replica(u, source=source) for u, source in dict.fromkeys(found)]
        if [e.url for e in fresh] != [e.url for e in self.replicas]:
            log.info("workers: %s", ", ".join(e.url for e in fresh))
        self.replicas = fresh

    async def close(self) -> None:
        """Stop the probes."""
        for task in self._probes.values():
            task.cancel()
        await asyncio.gather(*self._probes.values(), return_exceptions=True)
