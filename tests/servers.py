"""Start the real `deployer-tui serve` / `deployer-tui apinode` as subprocesses for tests.

The servers announce "<name>: <url>" on stdout once they accept connections (the README's command line promises it); we
wait for those lines rather than sleeping. Every process is stopped with SIGTERM (then SIGKILL).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Proc:
    popen: subprocess.Popen
    urls: dict[str, list[str]] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)

    def url(self, name: str = "deployer", index: int = 0) -> str:
        return self.urls[name][index]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        return self.popen.returncode

    def kill(self) -> None:
        """kill -9: nothing gets a chance to clean up."""
        self.stop(signal.SIGKILL)


def start(args: list[str], expect: dict[str, int], *, timeout: float = 60, env: dict | None = None) -> Proc:
    """Run `python -m deployer_tui.cli ARGS` and wait until each name was announced `count` times."""
    cmd = [sys.executable, "-m", "deployer_tui.cli", *args]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full_env)
    proc = Proc(popen)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    wanted = dict(expect)
    try:
        while any(proc.urls.get(name, []).__len__() < n for name, n in wanted.items()):
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                raise RuntimeError(f"{cmd} did not announce {wanted} in {timeout}s; output: {proc.output}") from None
            if line is None:
                raise RuntimeError(f"{cmd} exited ({popen.wait()}) before announcing {wanted}; output: {proc.output}")
            proc.output.append(line)
            name, sep, url = line.partition(": ")
            if sep and url.startswith("http"):
                proc.urls.setdefault(name, []).append(url)
    except BaseException:
        # Also on a test timeout or ctrl+c while waiting: a server nobody holds must not outlive the run.
        proc.stop()
        raise

    def drain() -> None:
        while (line := lines.get()) is not None:
            proc.output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    return proc


def serve(data_dir: Path, api_key: str, *, apinodes: int = 1, demo: bool = False, extra: list[str] | None = None) -> Proc:
    # The key goes by the environment, not the command line (which every local user can read).
    args = ["serve", "--port", "0", "--data-dir", str(data_dir), "--apinodes", str(apinodes)]
    if not demo:
        args.append("--no-demo")
    return start(args + (extra or []), {"deployer": 1, "apinode": apinodes}, env={"DEPLOYER_TUI_SERVE_API_KEY": api_key})


def apinode(data_dir: Path, admin_key: str) -> Proc:
    return start(["apinode", "--port", "0", "--data-dir", str(data_dir), "--admin-key", admin_key], {"apinode": 1})
