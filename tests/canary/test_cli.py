"""`deployer-tui canary` run as a subprocess against a real `serve` and its API node, on the demo's titanic
versions (v2; v4, slower and failing on a fifth of its inputs; v5, answering as v2 does): its exit codes,
the JSON summary on stdout, progress on stderr (plain lines in a pipe, a bar rewritten in place on a
terminal), and ctrl+c, which aborts and reverts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployer_tui.core.package import build_package
from deployer_tui.server.demo import PACKAGES_DIR
from tests import servers
from tests.deployer.conftest import ADMIN_KEY, client, wait_for
from tests.strict.conftest import dead_url

SOAK = "0.3s"


@dataclass
class Titanic:
    proc: servers.Proc
    deployer: Any  # dataikuapi's DSSAPIDeployer
    node_key: str

    @property
    def url(self) -> str:
        return self.proc.url()

    def deploy(self, dep_id: str, version: str = "v2", infra: str = "live") -> Any:
        """A deployment of its own (its own service id on the node) serving `version` alone."""
        dep = self.deployer.create_deployment(dep_id, "titanic", infra, version)
        settings = dep.get_settings()
        settings.get_raw()["deployedServiceId"] = f"svc-{dep_id}"
        settings.save()
        dep.start_update().wait_for_result()
        assert dep.get_status().get_health() == "HEALTHY"
        return dep

    def saved(self, dep_id: str) -> dict:
        return self.deployer.get_deployment(dep_id).get_settings().get_raw()["generationsMapping"]

    def served(self, dep_id: str, times: int = 6) -> set[str]:
        """The versions the node answers with, asked as a user would (no forced generation)."""
        seen = set()
        for i in range(times):
            body = {"features": {"Pclass": 1, "Sex": "female", "Age": 20 + i, "Embarked": "C"},
                    "dispatch": {"dispatchKey": f"user-{i}"}}
            resp = httpx.post(f"{self.proc.url('apinode')}/public/api/v1/svc-{dep_id}/survived/predict", json=body,
                              timeout=30)
            seen.add(resp.json()["apiContext"]["serviceGeneration"])
        return seen


@pytest.fixture(scope="module")
def titanic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Titanic]:
    root = tmp_path_factory.mktemp("canary-cli")
    proc = servers.serve(root / "data", ADMIN_KEY, apinodes=1)
    try:
        node_key = (root / "data" / "apinodes" / "node-1.admin-key").read_text().strip()
        deployer = client(proc.url()).get_apideployer()
        service = deployer.create_service("titanic")
        for version in ("v2", "v4", "v5"):
            out, _ = build_package(PACKAGES_DIR / f"titanic-{version}", root / f"titanic-{version}.zip")
            with out.open("rb") as fh:
                service.import_version(fh)
        infra = deployer.create_infra("live", "Development", "STATIC")
        settings = infra.get_settings()
        settings.add_apinode(proc.url("apinode"), node_key)
        settings.save()
        yield Titanic(proc, deployer, node_key)
    finally:
        proc.stop()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def command(args: list[str], state: Path) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "XDG_STATE_HOME": str(state), "DEPLOYER_TUI_CONFIG": str(state / "none.toml")}
    for var in ("DKU_DSS_URL", "DKU_API_KEY"):
        env.pop(var, None)
    return [sys.executable, "-m", "deployer_tui.cli", "canary", *args], env


def run(args: list[str], state: Path) -> subprocess.CompletedProcess:
    cmd, env = command(args, state)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180, stdin=subprocess.DEVNULL)


def flags(env: Titanic, *extra: str) -> list[str]:
    return [*extra, "--url", env.url, "--api-key", ADMIN_KEY]


def test_exit_0_promotes_a_healthy_version_through_every_step(titanic: Titanic, state: Path) -> None:
    titanic.deploy("ok1")
    done = run(flags(titanic, "ok1", "--to", "v5", "--steps", "10,50,100", "--soak", SOAK, "--probe-rate", "50",
                     "--yes"), state)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["outcome"] == "PROMOTED" and summary["ok"] is True
    assert summary["final"] == {"mode": "SINGLE_GENERATION", "generation": "v5"}
    assert summary["previousText"] == "v2"
    assert titanic.saved("ok1")["generation"] == "v5" and titanic.served("ok1") == {"v5"}
    # Progress went to stderr as plain lines (no terminal: nothing rewritten in place), one per step at least.
    assert "\r" not in done.stderr
    lines = done.stderr.splitlines()
    assert all(line.startswith("deployer-tui canary: ") for line in lines), done.stderr
    assert "ok1: v2 → v5 in steps 10 % → 50 % → 100 %" in done.stderr
    assert "p95 latency ratio ≤ 1.5× or ≤ +5 ms" in done.stderr and "probes 25/s per version" in done.stderr
    # The default guards: the 100 % step's v5, probed at the rate it had at 50 %, against v2's earlier p95.
    latency = next(g for g in summary["figures"]["guards"] if g["name"] == "p95 latency ratio")
    assert latency["ok"] is True and latency["value"].endswith("against v2's p95 from earlier steps")
    for percent in (10, 50):
        assert f"step {percent} % passed" in done.stderr, done.stderr
    assert ADMIN_KEY not in done.stderr + done.stdout


def test_exit_1_reverts_a_version_failing_on_part_of_its_inputs(titanic: Titanic, state: Path) -> None:
    titanic.deploy("bad1")
    done = run(flags(titanic, "bad1", "--to", "v4", "--soak", SOAK, "--probe-rate", "50", "--yes"), state)
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert summary["outcome"] == "REVERTED" and summary["ok"] is False
    assert summary["failedGuard"] == "error rate" and summary["failedStep"] == 10
    assert summary["finalText"] == "v2"
    assert "step 10 % failed" in done.stderr, done.stderr
    assert titanic.saved("bad1") == {"mode": "SINGLE_GENERATION", "generation": "v2"}
    assert titanic.served("bad1") == {"v2"}
    assert titanic.deployer.get_deployment("bad1").get_status().get_health() == "HEALTHY"


def test_exit_2_on_usage_and_connection_errors_changes_nothing(titanic: Titanic, state: Path) -> None:
    titanic.deploy("same1")
    unknown = run(flags(titanic, "no-such-deployment", "--to", "v5", "--yes"), state)
    assert unknown.returncode == 2 and "no-such-deployment" in unknown.stderr and unknown.stdout == ""
    no_version = run(flags(titanic, "same1", "--to", "v9", "--yes"), state)
    assert no_version.returncode == 2 and "v9" in no_version.stderr and no_version.stdout == ""
    for steps, why in (("10,5", "strictly increasing"), ("10,50", "the last step must be 100"),
                       ("ten", "comma-separated")):
        bad = run(flags(titanic, "same1", "--to", "v5", "--steps", steps, "--yes"), state)
        assert bad.returncode == 2 and why in bad.stderr and bad.stdout == "", bad.stderr
    bad_soak = run(flags(titanic, "same1", "--to", "v5", "--soak", "soon", "--yes"), state)
    assert bad_soak.returncode == 2 and "--soak" in bad_soak.stderr
    flood = run(flags(titanic, "same1", "--to", "v5", "--probe-rate", "500", "--yes"), state)
    assert flood.returncode == 2 and "probe rate" in flood.stderr
    refused = run(["same1", "--to", "v5", "--yes", "--url", dead_url(), "--api-key", "k"], state)
    assert refused.returncode == 2 and "connection refused" in refused.stderr and refused.stdout == ""
    no_terminal = run(flags(titanic, "same1", "--to", "v5"), state)
    assert no_terminal.returncode == 2 and "--yes" in no_terminal.stderr
    cmd, env = command(flags(titanic, "same1", "--to", "v5", "--yes"), state)
    cmd.insert(cmd.index("canary"), "--read-only")
    read_only = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert read_only.returncode == 2 and "read-only" in read_only.stderr
    assert titanic.saved("same1")["generation"] == "v2" and titanic.served("same1") == {"v2"}
    assert len(titanic.deployer.get_deployment("same1").list_updates()) == 1  # none of them ran an update


def test_ctrl_c_during_the_soak_aborts_and_reverts(titanic: Titanic, state: Path) -> None:
    titanic.deploy("int1")
    cmd, env = command(flags(titanic, "int1", "--to", "v5", "--soak", "60s", "--yes"), state)
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        dep = titanic.deployer.get_deployment("int1")

        def soaking() -> bool:  # the split is saved and its update ended: the first step soaks
            saved = dep.get_settings().get_raw()["generationsMapping"]
            updates = dep.list_updates()
            return saved.get("mode") == "MULTI_GENERATION" and len(updates) == 2 \
                and all(u.status != "RUNNING" for u in updates)

        wait_for(soaking, timeout=60, what="the first step's soak")
        assert titanic.served("int1", times=20) <= {"v2", "v5"}
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    summary = json.loads(out)
    assert summary["outcome"] == "ABORTED" and summary["finalText"] == "v2"
    assert "interrupted: aborting the canary" in err
    assert titanic.saved("int1")["generation"] == "v2" and titanic.served("int1") == {"v2"}
    assert not list((state / "deployer-tui" / "canary").glob("*")), "the record is removed once reverted"


def run_on_terminal(args: list[str], state: Path, typed: str) -> tuple[int, str, str]:
    """The command with stdin and stderr on a 200-column pseudo-terminal, `typed` as the answer to its
    question."""
    import fcntl
    import pty
    import struct
    import termios

    cmd, env = command(args, state)
    main, sub = pty.openpty()
    fcntl.ioctl(sub, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen(cmd, stdin=sub, stderr=sub, stdout=subprocess.PIPE, text=True, env=env)
    os.close(sub)
    os.write(main, typed.encode() + b"\n")
    seen: list[bytes] = []

    def drain() -> None:  # read while it runs: a full terminal buffer would block its writes
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                return
            if not chunk:
                return
            seen.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    out, _ = proc.communicate(timeout=180)
    reader.join(30)
    os.close(main)
    return proc.returncode, out, b"".join(seen).decode(errors="replace")


def test_on_a_terminal_it_asks_then_draws_a_bar_in_place(titanic: Titanic, state: Path) -> None:
    titanic.deploy("tty1")
    args = flags(titanic, "tty1", "--to", "v5", "--steps", "50,100", "--soak", "1s", "--probe-rate", "50")
    code, out, term = run_on_terminal(args, state, "n")
    assert code == 2 and "Run a canary of tty1 to v5? [y/N]" in term and out == ""
    assert titanic.saved("tty1")["generation"] == "v2"
    code, out, term = run_on_terminal(args, state, "y")
    assert code == 0, term
    assert json.loads(out)["outcome"] == "PROMOTED"
    # The status line is redrawn in place: back to the line's start, cleared, the bar and the step, no newline.
    redraws = [chunk.split("\r\n")[0] for chunk in term.split("\r\x1b[K")[1:]]
    bars = [line for line in redraws if line.startswith("canary [") and "█" in line]
    assert any("step 1/2 (50 %) soak," in line and "v5 " in line for line in bars), term
    assert any("step 2/2 (100 %)" in line for line in bars), term
    assert all(len(line) < 200 for line in bars)


def test_ctrl_c_on_the_terminal_leaves_the_local_deployer_to_finish_the_revert(tmp_path: Path, state: Path) -> None:
    """With no deployer configured the command starts the local one (demo data): ctrl+c on a terminal
    signals the whole foreground group, twice here; the local deployer, in a session of its own, keeps
    serving so that the revert completes (ABORTED, not FAILED) and is then stopped."""
    cmd, env = command(["--data-dir", str(tmp_path / "data"), "canary", "titanic-on-dev", "--to", "v5",
                        "--soak", "60s", "--yes"], state)
    cmd.remove("canary")  # --data-dir is the console's flag: it comes before the sub-command
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # its own group, as a terminal's foreground job
    seen: list[str] = []
    soaking, interrupted = threading.Event(), threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if " soak, " in line:
                soaking.set()
            if "interrupted: aborting" in line:
                interrupted.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert soaking.wait(120), "".join(seen)
        os.killpg(proc.pid, signal.SIGINT)
        assert interrupted.wait(30), "".join(seen)
        os.killpg(proc.pid, signal.SIGINT)
        out = proc.stdout.read() if proc.stdout else ""
        proc.wait(120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(30)
    err = "".join(seen)
    assert proc.returncode == 1, err
    summary = json.loads(out)
    assert summary["outcome"] == "ABORTED" and summary["finalText"] == "v2", err
    assert "still reverting" in err


def test_a_production_deployment_wants_its_id_typed(titanic: Titanic, state: Path) -> None:
    infra = titanic.deployer.create_infra("prod", "Production", "STATIC")
    settings = infra.get_settings()
    settings.add_apinode(titanic.proc.url("apinode"), titanic.node_key)
    settings.save()
    titanic.deploy("prod1", infra="prod")
    args = flags(titanic, "prod1", "--to", "v5", "--steps", "50,100", "--soak", SOAK, "--probe-rate", "50")
    code, out, term = run_on_terminal(args, state, "y")
    assert code == 2 and "prod1 is a Production deployment: type its id to run a canary of it to v5" in term
    assert out == "" and titanic.saved("prod1")["generation"] == "v2"
    code, out, term = run_on_terminal(args, state, "prod1")
    assert code == 0, term
    assert json.loads(out)["outcome"] == "PROMOTED" and titanic.served("prod1") == {"v5"}
