"""The Ray executor: each job is a Ray task on an existing cluster (`address: auto`, `ray://HOST:10001`)
or on a local one (`address: null`).

A job asks for the GPUs of the first `resources` rule matching its base size and method (1 GPU up to
8B parameters; above that 4, and 8 for full fine-tuning, trained under FSDP through `accelerate
launch`); on a cluster without GPUs it asks for CPUs. Results go to the same run directories, so
the output directory must be on a filesystem every node sees at the same path: before any job, a
task on every node reads a marker file the driver wrote there, and the grid is refused, naming the
node, when one cannot. Relative paths in the grid (output_dir, data) resolve against the directory
`astraios grid` runs in, which workers enter too. A job whose worker dies (killed, out of memory,
node lost) is submitted again, up to `max_retries` times: it resumes from its last checkpoint,
after the dead worker's stale locks are removed (Ray reported that process dead; on another host
astraios could not tell). Application errors are not retried: `run_job` records them, as locally.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from astraios.config import ConfigError
from astraios.core.io import read_json, write_json, write_text, write_yaml
from astraios.core.layout import WORKERS_DIR
from astraios.grid.cell import died_record, write_cell_record
from astraios.grid.executors.config import ExecutorConfig
from astraios.grid.job import run_job
from astraios.grid.status import base_parameters, job_cost

# `accelerate launch` flags for a job spread over several GPUs: configs/accelerate/fsdp.yaml as flags
# (a test keeps them equal), so an installed astraios needs no config file.
FSDP_LAUNCH_FLAGS = ["--use_fsdp", "--fsdp_version", "2", "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP",
                     "--fsdp_reshard_after_forward", "true", "--fsdp_state_dict_type", "SHARDED_STATE_DICT",
                     "--fsdp_cpu_ram_efficient_loading", "false", "--fsdp_offload_params", "false",
                     "--fsdp_activation_checkpointing", "false"]


class RayExecutor:
    def __init__(self, config: ExecutorConfig, *, output_dir: Path, grid_path: Path):
        self.config = config
        self.output_dir = Path(output_dir)
        self.grid_path = Path(grid_path)
        self.cwd = os.getcwd()
        self.started_ray = False
        self.node_gpus = self.node_cpus = 0.0  # the most of each that one node has

    def __enter__(self):
        try:
            import ray
        except ImportError:
            raise ConfigError("executor ray needs Ray: pip install 'astraios[ray]' (on every node). Fix: install "
                              "it, or run with --executor local.") from None
        if not ray.is_initialized():
            try:
                ray.init(address=self.config.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
            except ConnectionError as error:
                raise ConfigError(f"no Ray cluster at address {self.config.address!r} ({error}). Fix: start one "
                                  f"(`ray start --head` on the head node, `ray start --address HEAD:6379` on the "
                                  f"others), or leave address null for a cluster on this machine.") from None
            self.started_ray = True
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        self.node_gpus = max((node["Resources"].get("GPU", 0) for node in nodes), default=0)
        self.node_cpus = max((node["Resources"].get("CPU", 0) for node in nodes), default=0)
        check_shared_filesystem(self.output_dir, self.cwd, nodes)
        return self

    def __exit__(self, *exc_info) -> None:
        import contextlib

        with contextlib.suppress(OSError):  # empty once every job has finished
            (self.output_dir / WORKERS_DIR).rmdir()
        if self.started_ray:
            import ray

            ray.shutdown()

    def resources(self, job) -> dict:
        """Ray task options of `job`: its rule's GPUs (CPUs only on a cluster without GPUs)."""
        rule = self.config.rule_for(base_parameters(job.source_model), job.method)
        # A request no node can meet would wait forever on Ray's queue: refuse it before anything starts.
        wanted = {"num_cpus": rule.cpus, "num_gpus": rule.gpus if self.node_gpus else 0}
        for key, what, most in (("num_gpus", "GPUs", self.node_gpus), ("num_cpus", "CPUs", self.node_cpus)):
            if wanted[key] > most:
                raise ConfigError(f"{job.name} asks for {wanted[key]:g} {what} on one node (executor.resources), but "
                                  f"the largest node of the Ray cluster has {most:g}. Fix: lower that rule's "
                                  f"{what.lower()}, or add a bigger node.")
        return wanted

    def run(self, jobs, evaluation, progress, states, *, show_progress: bool) -> dict[str, dict]:  # noqa: ARG002
        import ray

        remote = ray.remote(_run_on_worker)
        options = {str(job.run_dir): self.resources(job) for job in jobs}  # every job checked before any starts
        pending: dict = {}  # object ref -> (job, attempt)

        def submit(job, attempt: int) -> None:
            launcher = self._launcher(job, options[str(job.run_dir)])
            ref = remote.options(max_retries=0, name=f"astraios-grid {job.name}",
                                 **options[str(job.run_dir)]).remote(
                job, evaluation, attempt, self.cwd, str(worker_file(self.output_dir, job)), launcher)
            pending[ref] = (job, attempt)

        for job in sorted(jobs, key=job_cost, reverse=True):
            submit(job, 1)
        records: dict[str, dict] = {}
        announced: set[tuple[str, int]] = set()
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                self._announce_started(pending.values(), announced, progress)
                for ref in ready:
                    job, attempt = pending.pop(ref)
                    try:
                        record = ray.get(ref)
                    except ray.exceptions.RayTaskError as error:  # the wrapper itself raised: not worth a retry
                        record = died_record(job, f"the Ray task failed: {error.cause!r}")
                    except ray.exceptions.RayError as error:  # the worker or its node died
                        cause = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
                        if attempt <= self.config.max_retries:
                            self._clear_stale_locks(job)
                            progress.console.print(f"[yellow]{job.name}: its Ray worker died ({cause}); "
                                                   f"resubmitting (attempt {attempt + 1})[/]")
                            submit(job, attempt + 1)
                            continue
                        record = died_record(job, f"its Ray worker died {attempt} times; last: {cause}")
                    records[str(job.run_dir)] = record
                    worker_file(self.output_dir, job).unlink(missing_ok=True)
                    progress.finish(job, record)
        finally:
            for ref in pending:  # interrupted (Ctrl-C): nothing keeps running on the cluster
                ray.cancel(ref, force=True)
        return records

    def _launcher(self, job, options: dict) -> list[str] | None:
        """`accelerate launch` arguments for a job over several GPUs (None: it trains in the worker itself)."""
        if options["num_gpus"] <= 1:
            return None
        rule = self.config.rule_for(base_parameters(job.source_model), job.method)
        if rule.accelerate_config is None:
            flags = FSDP_LAUNCH_FLAGS
        else:
            path = Path(rule.accelerate_config)
            flags = ["--config_file", str(path if path.is_absolute() else (self.grid_path.parent / path).resolve())]
        return [*flags, "--num_processes", str(int(options["num_gpus"]))]

    def _announce_started(self, in_flight, announced: set, progress) -> None:
        """A job's worker writes its worker file when it starts: that is when the progress view says so."""
        for job, attempt in in_flight:
            if (str(job.run_dir), attempt) in announced:
                continue
            started = read_worker_file(self.output_dir, job)
            if started and started.get("attempt") == attempt:
                announced.add((str(job.run_dir), attempt))
                progress.start(job, where=f"{started['host']} (Ray)")

    def _clear_stale_locks(self, job) -> None:
        """Remove the locks the dead worker held in the job's directory: Ray reported it dead, which
        astraios cannot check itself when it ran on another host."""
        from astraios.core.locks import holder

        worker = read_worker_file(self.output_dir, job)
        if not worker or not job.run_dir.is_dir():
            return
        for lock in job.run_dir.rglob("*.lock"):
            found = holder(lock) or {}
            if found.get("host") == worker["host"] and found.get("pid") == worker["pid"]:
                lock.unlink(missing_ok=True)


def worker_file(output_dir: Path, job) -> Path:
    relative = job.run_dir.relative_to(output_dir) if job.run_dir.is_relative_to(output_dir) else Path(job.run_dir.name)
    return Path(output_dir) / WORKERS_DIR / f"{'__'.join(relative.parts)}.json"


def read_worker_file(output_dir: Path, job) -> dict | None:
    try:
        return read_json(worker_file(output_dir, job))
    except ValueError:  # torn: treated as not started yet
        return None


def _run_on_worker(job, evaluation, attempt: int, driver_cwd: str, started_file: str, launcher: list[str] | None) -> dict:
    """A Ray task: one job on a worker, with the driver's working directory and the job semantics of `run_job`."""
    enter_directory(driver_cwd)
    write_json(started_file, {"host": socket.gethostname(), "pid": os.getpid(), "attempt": attempt,
                              "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    trainer = None if launcher is None else _accelerate_trainer(launcher, Path(started_file).with_suffix(".yaml"))
    record = run_job(job, evaluation, show_progress=False, trainer=trainer)
    record["executor"] = {"name": "ray", "host": socket.gethostname(), "attempt": attempt}
    write_cell_record(job.run_dir, record)
    return record


def enter_directory(driver_cwd: str) -> None:
    """Enter the driver's working directory, so relative paths mean what they mean on the driver."""
    try:
        os.chdir(driver_cwd)
    except OSError as error:
        raise RuntimeError(f"worker {socket.gethostname()} has no directory {driver_cwd} ({error.strerror}); run "
                           f"astraios grid from a directory on the filesystem every node shares") from None


def _accelerate_trainer(launcher: list[str], config_file: Path):
    """Train a job over several GPUs: `accelerate launch ... -m astraios train CONFIG` on this worker's GPUs."""

    def train(config, *, resume: bool, overwrite: bool, show_progress: bool) -> None:  # noqa: ARG001
        write_yaml(config_file, config.to_dict())
        command = [sys.executable, "-m", "accelerate.commands.launch", *launcher, "-m", "astraios", "train",
                   str(config_file), "--quiet", "--resume" if resume else "--overwrite"]
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            lines = [line for line in finished.stderr.splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("error:")] or lines[-1:]
            raise RuntimeError(f"accelerate launch exited with code {finished.returncode}: "
                               f"{errors[-1] if errors else 'no output'}")

    return train


# ----------------------------------------------------------------------------------------------
# The shared-filesystem check


def check_shared_filesystem(output_dir: Path, driver_cwd: str, nodes: list[dict]) -> None:
    """Refuse (ConfigError) unless a task on every alive node reads the marker the driver writes in output_dir."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = uuid.uuid4().hex
    marker = Path(output_dir) / f".astraios-shared-{token}"
    write_text(marker, token)
    try:
        probe = ray.remote(probe_marker)
        refs = [probe.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
                .remote(str(marker), driver_cwd, token) for node in nodes]
        answers = ray.get(refs, timeout=120)
    finally:
        marker.unlink(missing_ok=True)
    problems = [f"node {node.get('NodeManagerAddress', node['NodeID'][:8])}: {problem}"
                for node, problem in zip(nodes, answers) if problem]
    if problems:
        raise ConfigError(f"the grid's output_dir {output_dir} is not on a filesystem every Ray node sees ("
                          f"{'; '.join(problems)}). Fix: put output_dir, and the directory astraios grid runs in, "
                          f"on a shared filesystem mounted at the same path on every node (NFS, Lustre, ...).")


def probe_marker(marker: str, driver_cwd: str, token: str) -> str | None:
    """On a node: why it cannot see the driver's marker (None when it can)."""
    try:
        enter_directory(driver_cwd)
    except RuntimeError as error:
        return str(error)
    path = Path(marker)
    if not path.is_file():
        return f"no file {path.resolve()} (the marker the driver wrote)"
    if path.read_text(encoding="utf-8") != token:
        return f"{path.resolve()} holds another content than the driver wrote (a different filesystem at that path)"
    return None
