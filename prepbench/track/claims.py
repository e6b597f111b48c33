"""Claims on jobs and sweeps, so that sweeps that meet on one MLflow store share the work.

MLflow has no locks. A claim is a RUNNING run with two tags: `prepbench.owner` (host, boot, process
id and start time of the process that holds it) and `prepbench.lease_until` (Unix time), renewed by
a heartbeat thread every quarter of `tracking.lease_seconds`. A claim is live while its run is
RUNNING, its lease has not expired and, when its owner ran on this machine, that process still
exists; anything else is stale and may be marked KILLED and taken over. Nothing touches a live claim.

Creating a run and then looking for rivals is a race (both may look before either is visible), and
clocks cannot settle it (a write delayed by a busy store carries an old time). So claims on one
thing (a config hash, or a sweep's key) decide who goes first with Lamport's bakery algorithm,
which needs no atomic operation and no clock: a new claim (already visible, without a number) reads
the numbers of the live claims, takes one more than the largest and writes it; it then waits until
no live rival is still without a number, and goes first unless a rival holds a smaller (number,
run id). Any two claims that overlap see each other, and a claim made after another has its number
sees that number and takes a larger one. A claim that does not go first withdraws (tagged why,
KILLED, deleted) and its sweep skips the job, saying so.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from functools import cache

from prepbench.track import retries

log = logging.getLogger(__name__)

OWNER_TAG = "prepbench.owner"
LEASE_TAG = "prepbench.lease_until"
REASON_TAG = "prepbench.failure_reason"


def _set_tags(client, run_id: str, tags: dict[str, str]) -> None:
    """Several tags in one write."""
    from mlflow.entities import RunTag

    retries.retry(client.log_batch, run_id, tags=[RunTag(k, v) for k, v in tags.items()])


# ---- who holds a claim ---------------------------------------------------------------------------


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()[:8]
    except OSError:
        return "-"


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (field 3, the state, first), or [] where unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (tells a reused pid apart), or '-'."""
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else "-"


@cache
def _owner_for(pid: int) -> str:
    return f"{socket.gethostname()}/{_boot_id()}/{pid}/{_process_start(pid)}"


def owner() -> str:
    """This process, as written in OWNER_TAG: host/boot/pid/start."""
    return _owner_for(os.getpid())


def owner_gone(tag: str | None) -> bool:
    """True when the owner ran on this machine (same host and boot) and its process has ended."""
    if not tag:
        return False
    try:
        host, boot, pid, start = tag.rsplit("/", 3)
        pid = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname() or boot != _boot_id():
        return False  # another machine: only its lease tells
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # exists, another user's
    fields = _stat(pid)
    if fields and fields[0] in ("Z", "X"):  # ended, not yet reaped by its parent
        return True
    return start != "-" and _process_start(pid) not in (start, "-")


def claim_tags(lease_seconds: float) -> dict[str, str]:
    return {OWNER_TAG: owner(), LEASE_TAG: f"{time.time() + lease_seconds:.3f}"}


@dataclass(frozen=True)
class State:
    live: bool
    why: str  # for a stale claim: what makes it stale


def state(run, now: float | None = None) -> State:
    """Whether a run is a live claim, and if not, why."""
    now = time.time() if now is None else now
    if run.info.status != "RUNNING":
        return State(False, f"it is {run.info.status}")
    tags = run.data.tags
    lease = tags.get(LEASE_TAG)
    if lease is None:  # written by a prepbench without leases: only a crash leaves those RUNNING
        return State(False, "it has no lease (started by an older prepbench)")
    if owner_gone(tags.get(OWNER_TAG)):
        return State(False, f"its process ({tags[OWNER_TAG]}) has ended")
    try:
        until = float(lease)
    except ValueError:
        return State(False, f"its lease {lease!r} is unreadable")
    if until < now:
        return State(False, f"its lease expired {now - until:.0f} s ago")
    return State(True, f"lease renewed, {until - now:.0f} s left")


# ---- reading claims -------------------------------------------------------------------------------


def _search(
    client, exp_id: str, role: str, status: str, *, config_hash: str | None = None, sweep_key: str | None = None
):
    flt = f"tags.`prepbench.role` = '{role}' and attributes.status = '{status}'"
    if config_hash:
        flt += f" and tags.`prepbench.config_hash` = '{config_hash}'"
    if sweep_key:
        flt += f" and tags.`prepbench.sweep_key` = '{sweep_key}'"
    return retries.retry(client.search_runs, [exp_id], filter_string=flt, max_results=1000)


def live_claims(client, exp_id: str, config_hash: str) -> list:
    """The live job claims on a config hash, first in line first."""
    runs = [r for r in _search(client, exp_id, "job", "RUNNING", config_hash=config_hash) if state(r).live]
    return sorted(runs, key=_place)


def mark_stale(client, exp_id: str, *, role: str = "job", config_hash: str | None = None) -> list[tuple[object, str]]:
    """Mark the stale RUNNING runs (of `role`, of one config hash or all) KILLED, with the reason
    as a tag; live claims are left alone. Returns the runs marked, each with why."""
    marked = []
    for run in _search(client, exp_id, role, "RUNNING", config_hash=config_hash):
        verdict = state(run)
        if verdict.live:
            continue
        retries.retry(
            client.set_tag,
            run.info.run_id,
            REASON_TAG,
            f"interrupted: found RUNNING by a later sweep, but {verdict.why}",
        )
        retries.retry(client.set_terminated, run.info.run_id, status="KILLED")
        marked.append((run, verdict.why))
    return marked


# ---- the bakery ---------------------------------------------------------------------------------


NUMBER_TAG = "prepbench.claim_number"
POLL_SECONDS = 0.2


def _number(run) -> int | None:
    try:
        return int(run.data.tags[NUMBER_TAG])
    except (KeyError, ValueError):
        return None


def _place(run) -> tuple:
    number = _number(run)
    return (number if number is not None else float("inf"), run.info.run_id)


def take_turn(client, run_id: str, rivals, *, wait_seconds: float):
    """Lamport's bakery for claim `run_id` (created and visible before this call) against
    `rivals()`, a fresh read of the live runs claiming the same thing. Returns (number, the rival
    that goes first or None). A rival that stays without a number for `wait_seconds` (its store
    writes stalled) is taken to be later than this claim."""
    numbers = [n for r in rivals() if r.info.run_id != run_id and (n := _number(r)) is not None]
    number = 1 + max(numbers, default=0)
    retries.retry(client.set_tag, run_id, NUMBER_TAG, str(number))
    deadline = time.monotonic() + wait_seconds
    while True:
        others = [r for r in rivals() if r.info.run_id != run_id]
        choosing = [r for r in others if _number(r) is None]
        if choosing and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            continue
        ahead = sorted((r for r in others if _number(r) is not None and _place(r) < (number, run_id)), key=_place)
        return number, (ahead[0] if ahead else None)


# ---- a job's claim -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lost:
    """Why a claim lost: the run that holds the job instead, and how to say it."""

    run_id: str
    run_name: str
    finished: bool

    def message(self) -> str:
        if self.finished:
            return f"skipped, FINISHED meanwhile by another sweep as run {self.run_id} ({self.run_name})"
        return f"skipped, another sweep is training it as run {self.run_id} ({self.run_name})"


def contest(client, exp_id: str, run_id: str, config_hash: str, *, lease_seconds: float, rerun: bool) -> Lost | None:
    """After creating claim `run_id` on a config hash: None if it goes first (and, unless `rerun`,
    no run of the hash FINISHED meanwhile), else what it lost to."""
    _, ahead = take_turn(client, run_id, lambda: live_claims(client, exp_id, config_hash), wait_seconds=lease_seconds)
    if ahead is not None:
        return Lost(ahead.info.run_id, ahead.info.run_name, False)
    if not rerun:
        done = _search(client, exp_id, "job", "FINISHED", config_hash=config_hash)
        if done:
            return Lost(done[0].info.run_id, done[0].info.run_name, True)
    return None


def withdraw(client, run_id: str, lost: Lost) -> None:
    """Give up a claim that lost: say why, end it KILLED and delete it (hidden from searches)."""
    retries.retry(client.set_tag, run_id, REASON_TAG, f"claim withdrawn: {lost.message()}")
    retries.retry(client.set_terminated, run_id, status="KILLED")
    retries.retry(client.delete_run, run_id)


class Heartbeat:
    """Renews a run's lease every quarter of `lease_seconds` from a daemon thread, until stopped.
    A store that does not answer for a while is retried at the next beat (the lease has three beats
    of slack)."""

    def __init__(self, client, run_id: str, lease_seconds: float):
        self.client, self.run_id, self.lease_seconds = client, run_id, float(lease_seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{run_id[:8]}", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _beat(self) -> None:
        failures = 0
        while not self._stop.wait(self.lease_seconds / 4):
            try:
                self.client.set_tag(self.run_id, LEASE_TAG, f"{time.time() + self.lease_seconds:.3f}")
                failures = 0
            except Exception as err:  # the store is busy or away: try again at the next beat
                failures += 1
                if failures == 2:
                    log.warning("cannot renew the lease of run %s (%s); retrying", self.run_id, err)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---- a sweep's parent run -----------------------------------------------------------------------


def settle_parent(client, exp_id: str, new_id: str, sweep_key: str, *, lease_seconds: float) -> str:
    """A sweep opened parent run `new_id` (a claim on its sweep key). If it goes first among the live
    sweeps of that key and an earlier parent of the key is free (ended, or stale: its sweep was
    killed), that parent is reopened, claimed with this sweep's number, and `new_id` deleted, so
    that a resumed sweep keeps all its jobs under one parent. Returns the parent to use."""

    def rivals():
        return [r for r in _search(client, exp_id, "sweep", "RUNNING", sweep_key=sweep_key) if state(r).live]

    number, ahead = take_turn(client, new_id, rivals, wait_seconds=lease_seconds)
    if ahead is not None:
        return new_id  # another sweep of the same command is running: this one keeps its own parent
    earlier = retries.retry(
        client.search_runs,
        [exp_id],
        filter_string=f"tags.`prepbench.role` = 'sweep' and tags.`prepbench.sweep_key` = '{sweep_key}'",
        max_results=50,
        order_by=["attributes.start_time DESC"],
    )
    free = [r for r in earlier if r.info.run_id != new_id and not state(r).live]
    if not free:
        return new_id
    old = free[0].info.run_id
    _set_tags(client, old, {**claim_tags(lease_seconds), NUMBER_TAG: str(number)})
    retries.retry(client.update_run, old, status="RUNNING")
    # Ended before it is deleted: a deleted run keeps its status, and one left RUNNING would read as
    # a live sweep to anyone who lists deleted runs (`mlflow gc`, the store's tables).
    retries.retry(client.set_tag, new_id, REASON_TAG, f"superseded: the sweep resumed its earlier parent {old}")
    retries.retry(client.set_terminated, new_id, status="KILLED")
    retries.retry(client.delete_run, new_id)
    return old
