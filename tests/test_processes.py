"""Process management: `python server.py` with WEB_CONCURRENCY, and the `dev`
supervisor behind `make run`, both leave no process behind when stopped."""
import os
import signal
import subprocess
import time

import psutil
import pytest

from tests.support.processes import free_port, start, wait_healthy

pytestmark = pytest.mark.system  # server processes started and killed


def descendants(proc: subprocess.Popen) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children(recursive=True)


def live_workers(proc: subprocess.Popen, exclude: int) -> list[psutil.Process]:
    alive = []
    for p in descendants(proc):
        try:
            if p.pid != exclude and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def assert_all_gone(procs: list[psutil.Process], timeout: float = 30) -> None:
    gone, alive = psutil.wait_procs(procs, timeout=timeout)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"


def test_web_concurrency_forks_workers_restarts_crashed_ones_and_stops_all():
    port = free_port()
    proc = start([], port, WEB_CONCURRENCY="2")
    try:
        wait_healthy(port)
        workers = descendants(proc)
        assert len(workers) == 2
        crashed = workers[0]
        crashed.kill()  # a crash
        crashed.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(live_workers(proc, exclude=crashed.pid)) < 2:
            time.sleep(0.2)
        assert len(live_workers(proc, exclude=crashed.pid)) == 2
        wait_healthy(port)
        everyone = [psutil.Process(proc.pid)] + live_workers(proc, exclude=crashed.pid)
        proc.send_signal(signal.SIGTERM)
        assert_all_gone(everyone)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_dev_supervisor_runs_web_worker_beat_and_ctrl_c_stops_them():
    port = free_port()
    proc = start(["dev"], port)
    try:
        wait_healthy(port, timeout=90)
        children = descendants(proc)
        commands = " ".join(" ".join(p.cmdline()) for p in children)
        assert "worker" in commands and "beat" in commands and "server.py" in commands
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert_all_gone(children)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
