"""Running an experiment's runs as ``earnet`` subprocesses, a few at a time.

Each run is one worker of a :class:`concurrent.futures.ThreadPoolExecutor` that runs the
run's pending commands in order, with ``OMP_NUM_THREADS`` set to the threads per job and
everything it prints in ``<experiment out>/logs/<run>.log``. A failed run is reported with
its log and the others go on. Interrupting the sweep stops its subprocesses; running it
again skips what finished and resumes the rest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from earnet.sweep.plan import RunPlan

BAR_WIDTH = 24


def available_cores() -> int:
    """Cores this process may use (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_jobs(threads_per_job: int) -> int:
    """As many jobs as fit on the available cores without oversubscribing them (at least 1)."""
    return max(1, available_cores() // max(1, threads_per_job))


def earnet_program() -> list[str]:
    """How to start ``earnet`` with this interpreter and this earnet (whatever PYTHONPATH says)."""
    return [sys.executable, "-m", "earnet"]


@dataclass
class Outcome:
    """How one run ended."""

    name: str
    status: str  # done, failed, skipped, busy, interrupted
    seconds: float
    log: Path | None
    returncode: int = 0
    message: str = ""


class Sweep:
    """Runs plans with ``jobs`` workers of ``threads`` threads each, printing progress to ``stream``."""

    def __init__(self, plans: Sequence[RunPlan], log_dir: Path, jobs: int, threads: int,
                 stream: TextIO = sys.stdout, program: Sequence[str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.plans = list(plans)
        self.log_dir = log_dir
        self.jobs = max(1, jobs)
        self.threads = max(1, threads)
        self.stream = stream
        self.program = list(program) if program is not None else earnet_program()
        self.clock = clock
        self._lock = threading.Lock()
        self._processes: dict[str, subprocess.Popen] = {}
        self._stopping = threading.Event()
        self._finished = 0
        self._failed = 0
        self._to_run = 0

    def run(self) -> list[Outcome]:
        """Run every unfinished plan; return one outcome per plan, in plan order."""
        outcomes: dict[str, Outcome] = {}
        todo = []
        for plan in self.plans:
            if plan.status() == "done":
                outcomes[plan.name] = Outcome(plan.name, "skipped", 0.0, None, message="already finished")
            else:
                todo.append(plan)
        self._to_run = len(todo)
        skipped = len(self.plans) - len(todo)
        resumed = sum(plan.status() == "partial" for plan in todo)
        self._print(f"sweep: {len(self.plans)} runs, {skipped} already finished, {len(todo)} to run"
                    + (f" ({resumed} to resume)" if resumed else "") + " "
                    f"[{self.jobs} at a time, {self.threads} thread{'s' if self.threads > 1 else ''} each; "
                    f"logs in {self.log_dir}]")
        if todo:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="earnet-sweep")
        futures: dict[Future, RunPlan] = {pool.submit(self._run_one, plan): plan for plan in todo}
        try:
            pending = set(futures)
            while pending:
                # A timeout keeps the main thread responsive to Ctrl-C.
                done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = future.result()
                    outcomes[outcome.name] = outcome
        except BaseException:
            self._stop_all()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return [outcomes[plan.name] for plan in self.plans]

    def _run_one(self, plan: RunPlan) -> Outcome:
        if self._stopping.is_set():
            return Outcome(plan.name, "interrupted", 0.0, None)
        log = self.log_dir / f"{plan.name}.log"
        # The lock is inherited by the run's subprocesses: a run whose earnet outlived a killed
        # sweep (or that another sweep is running) is left alone until it exits.
        with open(self.log_dir / f"{plan.name}.lock", "a") as lock:
            if not _try_lock(lock.fileno()):
                outcome = Outcome(plan.name, "busy", 0.0, log, message="another process is running it")
                self._report(outcome)
                return outcome
            return self._run_locked(plan, log, lock.fileno())

    def _run_locked(self, plan: RunPlan, log: Path, lock: int) -> Outcome:
        commands = plan.pending()
        start = self.clock()
        verb = "resume" if plan.status() == "partial" else "start"
        self._print(f"{verb:>8} {plan.name} -> {plan.out} ({len(commands)} command{'s' * (len(commands) != 1)})")
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads),
               "PYTHONUNBUFFERED": "1"}
        with open(log, "a") as handle:
            for command in commands:
                handle.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n$ earnet {' '.join(command)}\n")
                handle.flush()
                with self._lock:
                    if self._stopping.is_set():
                        return Outcome(plan.name, "interrupted", self.clock() - start, log)
                    process = subprocess.Popen([*self.program, *command], stdout=handle, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                                               pass_fds=(lock,))
                    self._processes[plan.name] = process
                returncode = process.wait()
                with self._lock:
                    self._processes.pop(plan.name, None)
                if self._stopping.is_set():
                    handle.write("# stopped: the sweep was interrupted (run it again to resume)\n")
                    return Outcome(plan.name, "interrupted", self.clock() - start, log, returncode)
                if returncode != 0:
                    outcome = Outcome(plan.name, "failed", self.clock() - start, log, returncode,
                                      _last_error(log))
                    self._report(outcome)
                    return outcome
        outcome = Outcome(plan.name, "done", self.clock() - start, log)
        self._report(outcome)
        return outcome

    def _stop_all(self) -> None:
        """Stop every running subprocess (its whole process group), politely then firmly."""
        with self._lock:
            self._stopping.set()
            processes = list(self._processes.values())
        for process in processes:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()

    def _report(self, outcome: Outcome) -> None:
        with self._lock:
            self._finished += 1
            self._failed += outcome.status == "failed"
            finished, failed, total = self._finished, self._failed, self._to_run
        minutes = outcome.seconds / 60
        if outcome.status == "busy":
            line = f"    busy {outcome.name}: {outcome.message}; not started"
        elif outcome.status == "failed":
            line = (f"  FAILED {outcome.name} after {minutes:.1f} min (exit {outcome.returncode}): "
                    f"{outcome.message or 'see the log'}; log: {outcome.log}")
        else:
            line = f"finished {outcome.name} in {minutes:.1f} min"
        self._print(line + "\n" + progress_bar(finished, total, failed))

    def _print(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)


def progress_bar(finished: int, total: int, failed: int = 0) -> str:
    """``[#########---------] 3/8 runs finished (1 failed)``."""
    filled = round(BAR_WIDTH * finished / total) if total else BAR_WIDTH
    failed_text = f" ({failed} failed)" if failed else ""
    return f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {finished}/{total} runs finished{failed_text}"


def _try_lock(fd: int) -> bool:
    """Take the run's lock without waiting; ``False`` if someone holds it."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no protection against a second sweep
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _last_error(log: Path) -> str:
    """The ``earnet: error: ...`` line of a log, else its last non-empty line."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    errors = [line for line in lines if line.startswith("earnet: error:")]
    return (errors or lines or [""])[-1][:300]
