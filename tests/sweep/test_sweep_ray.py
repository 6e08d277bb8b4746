"""The Ray executor against a real one-machine Ray cluster bound to 127.0.0.1 (started and stopped
here), compared row for row with the local executor; resource and address errors."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sweep_helpers import six_spec

from lmscale.errors import InputError
from lmscale.store import Store
from lmscale.sweep.ray_executor import check_resources

HAVE_RAY = importlib.util.find_spec("ray") is not None
TIMING = ["wall_time", "tokens_per_s"]


def test_check_resources_names_what_is_missing() -> None:
    nodes = [
        {"Alive": True, "Resources": {"CPU": 2.0}},
        {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}},
    ]
    check_resources(nodes, 1, 0)
    check_resources(nodes, 2, 0)
    with pytest.raises(
        InputError, match=r"no node can run a task needing 4 CPU\(s\) and 0 GPU\(s\) \(largest node: 2 CPU"
    ):
        check_resources(nodes, 4, 0)
    with pytest.raises(InputError, match=r"needing 1 CPU\(s\) and 1 GPU\(s\).*1 node\(s\) alive"):
        check_resources(nodes, 1, 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """`ray start --head --block` on loopback only; stopping that process stops the cluster."""
    port = _free_port()
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    ray_bin = Path(sys.executable).parent / "ray"
    proc = subprocess.Popen(
        [str(ray_bin), "start", "--head", "--block", "--num-cpus=2", "--include-dashboard=false",
         "--disable-usage-stats", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-gpus=2"],  # logical GPUs: Ray schedules on them and sets CUDA_VISIBLE_DEVICES
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("the local Ray cluster did not start") from None
                time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)  # `ray start --block` tears down the processes it started
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def lmscale(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return subprocess.run(
        [sys.executable, "-m", "lmscale", *args], capture_output=True, text=True, timeout=600, env=env
    )


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install 'lmscale[ray]')")
def test_ray_executor_gives_the_same_rows_as_local(tmp_path: Path, ray_cluster: str) -> None:
    spec = six_spec(tmp_path)
    ray_db, local_db = tmp_path / "ray.db", tmp_path / "local.db"
    out = lmscale(
        "sweep",
        "run",
        str(spec),
        "--store",
        str(ray_db),
        "--executor",
        "ray",
        "--address",
        ray_cluster,
        "--threads",
        "1",
        "--json",
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout)["completed"] == 6
    local = lmscale("sweep", "run", str(spec), "--store", str(local_db), "--threads", "1", "--json")
    assert local.returncode == 0, local.stderr[-3000:]
    with Store(ray_db, readonly=True) as r, Store(local_db, readonly=True) as lo:
        cols = ["id", "status", "N", "N_total", "D", "C_6ND", "C_exact", "loss"]
        pd.testing.assert_frame_equal(
            r.runs()[cols].sort_values("id", ignore_index=True),
            lo.runs()[cols].sort_values("id", ignore_index=True),
        )
        rc, lc = (
            s.curves().drop(columns=TIMING).sort_values(["run_id", "step"], ignore_index=True)
            for s in (r, lo)
        )
        pd.testing.assert_frame_equal(rc, lc)
    again = lmscale(
        "sweep",
        "run",
        str(spec),
        "--store",
        str(ray_db),
        "--executor",
        "ray",
        "--address",
        ray_cluster,
        "--json",
    )
    assert json.loads(again.stdout)["skipped"] == 6  # resume works the same way


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install 'lmscale[ray]')")
def test_ray_unsatisfiable_resources_fail_fast(tmp_path: Path, ray_cluster: str) -> None:
    t0 = time.time()
    out = lmscale(
        "sweep",
        "run",
        str(six_spec(tmp_path)),
        "--store",
        str(tmp_path / "s.db"),
        "--executor",
        "ray",
        "--address",
        ray_cluster,
        "--threads",
        "64",
    )
    assert out.returncode == 2 and time.time() - t0 < 120
    assert "ray: no node can run a task needing 64 CPU(s) and 0 GPU(s)" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_ray_unreachable_address_fails_fast(tmp_path: Path) -> None:
    if not HAVE_RAY:
        pytest.skip("ray is not installed")
    out = lmscale(
        "sweep",
        "run",
        str(six_spec(tmp_path)),
        "--store",
        str(tmp_path / "s.db"),
        "--executor",
        "ray",
        "--address",
        f"127.0.0.1:{_free_port()}",
    )
    assert out.returncode == 2 and "ray: cannot reach a Ray cluster at 127.0.0.1:" in out.stderr


GPU_SPEC = """
name = "two-gpus"
sizes = [{n_layer = 1, d_model = 16}]
[model]
n_ctx = 16
[train]
tokenizer = "byte"
batch_size = 4
gpus = 2
command = '''{python} -c "import os, lmscale; open('{run_dir}/gpus.txt', 'w').write(os.environ.get('CUDA_VISIBLE_DEVICES', '-') + ' {gpus}'); lmscale.track(1, 4096, eval_loss=3.0)"'''
[axes]
tokens = [4096]
"""


@pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install 'lmscale[ray]')")
def test_a_command_run_gets_the_gpus_it_asks_for(tmp_path: Path, ray_cluster: str, monkeypatch) -> None:
    """`gpus = 2` (a torchrun command, say): Ray reserves two GPUs for the run and the command sees
    them in CUDA_VISIBLE_DEVICES and {gpus}. The local executor refuses, naming Ray."""
    monkeypatch.setenv("LMSCALE_HOME", str(tmp_path / "home"))
    spec = tmp_path / "gpus.toml"
    spec.write_text(GPU_SPEC)
    local = lmscale("sweep", "run", str(spec), "--store", str(tmp_path / "local.db"))
    assert local.returncode == 2 and "runs that use 2 GPUs each need --executor ray" in local.stderr
    db = tmp_path / "ray.db"
    out = lmscale("sweep", "run", str(spec), "--store", str(db), "--executor", "ray", "--address", ray_cluster)
    assert out.returncode == 0, out.stderr[-3000:]
    (seen,) = [p.read_text() for p in tmp_path.rglob("gpus.txt")]
    assert sorted(seen.split()[0].split(",")) == ["0", "1"] and seen.split()[1] == "2"
    with Store(db, readonly=True) as st:
        assert st.runs()["status"].tolist() == ["completed"]
