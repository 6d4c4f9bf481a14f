"""`apitape replay --ray` / `--workers N`: each shard replayed by a Ray task, merged as they
finish. The one module that imports Ray (`pip install 'apitape[ray]'`).

Ray does the scheduling and the retries: a shard whose task fails (its worker process died,
or the shard could not be read) is run once more; a second failure ends the run with exit
status 2 naming the shard, and the report holds every shard that finished. `--rate` is one
budget for the whole run, held by one actor that the tasks take tokens from. Ctrl-C cancels
the tasks and still reports what finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from apitape.errors import UsageError
from apitape.http.endpoints import EndpointNamer
from apitape.http.path_parameters import PathParameters
from apitape.models import RunReport
from apitape.runs.inputs import (
    NOT_LEARNED,
    Rules,
    learn_path_parameters,
    load_rules,
    run_before,
)
from apitape.runs.settings import RunSettings
from apitape.runs.workflows import (
    _judge_options,
    _with_context,
    learned_path_notes,
    saved_responses,
)
from apitape.scale import storage
from apitape.scale.shard import Manifest, ShardFile, is_manifest, read_manifest, shard_cassettes

if TYPE_CHECKING:
    from apitape.scale.merge import ShardResult

RAY_EXTRA = "pip install 'apitape[ray]'"

WAIT_SECONDS = 0.2
"""How long the driver waits for a shard before it looks whether Ctrl-C was pressed."""

TOKEN_BATCH_SECONDS = 0.05
"""A task takes this many seconds' worth of the --rate budget at a time."""

LOCAL_RAY = {"worker_niceness": 0}
"""How a local Ray (`--workers`) is started: its workers at the driver's priority. Ray nices
its workers to 15 by default, and a replaying worker then yields its core to anything else
that wants it, the target on the same machine included: on 2 cores with the raw benchmark
server, one of two equal shards took 3.7-4.0 s beside the other's 2.8-3.1 s, and two
workers replayed 9,300-9,900 exchanges/s; at 0, the shards end together and 11,200-12,000."""


@dataclass(frozen=True)
class ScaleOut:
    """Where and how wide a replay runs: a Ray cluster's `address` ("auto": the one `ray
    start` runs on this machine, or $RAY_ADDRESS), or a local Ray of `workers` CPUs; how many
    `shards` (default: twice the CPUs) and where they are written (`shards_into`, a directory
    or `s3://bucket/prefix` every worker can read; default a temporary directory)."""

    address: str | None = None
    workers: int | None = None
    shards: int | None = None
    shards_into: str | None = None


@dataclass(frozen=True)
class ShardDone:
    """Progress: one shard finished (or failed for good)."""

    index: int
    done: int
    total: int
    exchanges: int
    errors: int
    seconds: float
    failure: str | None = None
    peak_rss_mb: float = 0.0  # of the worker process that ran the shard


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(f"replaying on Ray needs Ray: {RAY_EXTRA}") from None
    return ray


def replay_on_ray(
    inputs: Sequence[str],
    target: str,
    settings: RunSettings,
    scale: ScaleOut,
    on_shard: Callable[[ShardDone], None] | None = None,
) -> RunReport:
    """Replay the cassettes (or the shards of a manifest) on Ray and merge the shards into
    the report one process would write (latency percentiles from merged sketches)."""
    ray = _ray()
    try:
        from apitape.scale.merge import Merge
        from apitape.scale.worker import worker_settings
    except ImportError as exc:
        raise UsageError(f"replaying on Ray needs {exc.name}: {RAY_EXTRA}") from None
    if scale.workers is not None and scale.workers < 1:
        raise UsageError(f"must be 1 or more, not {scale.workers}", "workers")
    rules = load_rules(settings)
    replayer = settings.replayer(target, rules.config, rules.namer)  # checks the target
    session_by = settings.session_by or rules.config.session_by or "client"
    saved_notes: list[str] = []
    with (
        _cluster(ray, scale) as cpus,
        tempfile.TemporaryDirectory(prefix="apitape-") as scratch,
        contextlib.ExitStack() as stack,
    ):
        manifest = _manifest(inputs, scale, session_by, cpus, scratch)
        if settings.session_by and settings.session_by != manifest.session_by:
            raise UsageError(
                f"is {settings.session_by!r}, but the shards were cut by session key "
                f"{manifest.session_by!r}: shard the cassettes again by {settings.session_by!r}, "
                "or replay by the shards' key",
                "session_by",
            )
        run_before(settings.before)
        saving = (
            saved_responses(settings.save_responses, saved_notes)
            if settings.save_responses is not None
            else contextlib.nullcontext(None)
        )
        saved = stack.enter_context(saving)  # opened before any shard runs, as one process does
        rules, learned = _with_learned_paths(rules, settings, manifest)
        # Nothing learned (too big a capture): the shards name by the guess, not each by its own.
        shard_settings = replace(
            worker_settings(settings, manifest.session_by),
            path_parameters=learned if learned is not None else PathParameters(),
        )
        budget = _budget(ray, settings.rate, len(manifest.shards))
        task = ray.remote(num_cpus=1, max_retries=1, retry_exceptions=True)(_run_shard)
        pending = {
            task.remote(
                index,
                manifest.shard_location(index),
                shard,
                manifest.inputs,
                replayer.target,
                shard_settings,
                budget,
            ): index
            for index, shard in enumerate(manifest.shards)
        }
        merge = Merge(replayer.target, _judge_options(rules, settings))
        failure = _collect(ray, pending, manifest, merge, on_shard)
        if saved is not None:  # in the inputs' order, one shard file at a time
            for exchange in merge.answers():
                saved.add(exchange)
            saved.unanswered += merge.unanswered
    if not merge.judged and failure is None and not merge.skipped:
        raise UsageError(f"nothing to replay: {', '.join(inputs)} hold(s) no exchanges")
    report = merge.finish()
    notes = [
        f"replayed on Ray: {len(merge.shards)} of {len(manifest.shards)} shard(s) of "
        f"{manifest.location} by session key {manifest.session_by}"
    ]
    input_error = failure or (merge.input_errors[0] if merge.input_errors else None)
    warnings = [*manifest.warnings, *merge.warnings]
    notes += saved_notes
    notes += learned_path_notes(rules)
    return _with_context(report, rules, settings, warnings, notes, input_error=input_error)


def _run_shard(
    index: int,
    location: str,
    shard: ShardFile,
    inputs: tuple[str, ...],
    target: str,
    settings: RunSettings,
    budget: Any,
) -> ShardResult:
    """The Ray task: the worker's replay, with the rate budget's tokens if there is one."""
    from apitape.scale.worker import replay_shard

    tokens = _Tokens(budget) if budget is not None else None
    return replay_shard(index, location, shard, inputs, target, settings, tokens)


class _Tokens:
    """Takes --rate tokens from the budget actor a batch at a time, one per request."""

    def __init__(self, budget: Any) -> None:
        self._budget = budget
        self._left = 0

    def __call__(self) -> None:
        if self._left == 0:
            self._left = _ray().get(self._budget.take.remote())
        self._left -= 1


class RateBudget:
    """One --rate for every task: hands out batches of tokens no faster than the rate."""

    def __init__(self, rate: float, batch: int) -> None:
        self._rate = rate
        self._batch = batch
        self._next = time.monotonic()

    async def take(self) -> int:
        """A batch of tokens, once the budget allows it."""
        now = time.monotonic()
        slot = max(self._next, now)
        self._next = slot + self._batch / self._rate
        if slot > now:
            await asyncio.sleep(slot - now)
        return self._batch


def _budget(ray: Any, rate: float | None, shards: int) -> Any:
    if rate is None:
        return None
    if rate <= 0:
        raise UsageError(f"must be a positive number of requests per second, not {rate}", "rate")
    batch = max(1, int(rate * TOKEN_BATCH_SECONDS))
    return ray.remote(num_cpus=0)(RateBudget).remote(rate, batch)


@contextlib.contextmanager
def _cluster(ray: Any, scale: ScaleOut) -> Iterator[int]:
    """Ray connected (or started with `workers` CPUs) for the run; yields the CPUs it has."""
    started = False
    if not ray.is_initialized():
        try:
            if scale.address is not None:
                ray.init(address=scale.address, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=scale.workers,
                    include_dashboard=False,
                    log_to_driver=False,
                    _system_config=LOCAL_RAY,
                )
        except ConnectionError as exc:
            raise UsageError(
                f"cannot reach the Ray cluster at {scale.address}: {exc}; start one with "
                "`ray start --head`, or replay on a local Ray of a number of workers instead"
            ) from None
        started = True
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        yield scale.workers or cpus
    finally:
        if started:
            ray.shutdown()


def _with_learned_paths(
    rules: Rules, settings: RunSettings, manifest: Manifest
) -> tuple[Rules, PathParameters | None]:
    """The path parameters every shard names endpoints by, learned once from the whole
    capture: those `apitape shard` wrote into the manifest as it cut the shards, or, for a
    manifest from before it did, learned here from its shards where they are files (sessions
    stay whole in a shard, so an answer still comes before the requests that use what it
    produced)."""
    if settings.path_parameters is not None:
        return rules, settings.path_parameters
    learned = manifest.path_parameters
    if learned is not None:
        return replace(rules, namer=EndpointNamer(rules.namer.templates, learned)), learned
    locations = [manifest.shard_location(i) for i in range(len(manifest.shards))]
    sources = [location for location in locations if not storage.is_url(location)]
    if not sources:
        return rules, None
    learned = learn_path_parameters(sources)
    if learned is None:
        return replace(rules, notes=(*rules.notes, NOT_LEARNED)), None
    return replace(rules, namer=EndpointNamer(rules.namer.templates, learned)), learned


def _manifest(
    inputs: Sequence[str], scale: ScaleOut, session_by: str, cpus: int, scratch: str
) -> Manifest:
    if len(inputs) == 1 and is_manifest(inputs[0]):
        return read_manifest(inputs[0])
    shards = scale.shards or 2 * max(1, cpus)
    return shard_cassettes(inputs, scale.shards_into or scratch, shards, session_by)


def _collect(
    ray: Any,
    pending: dict[Any, int],
    manifest: Manifest,
    merge: Any,
    on_shard: Callable[[ShardDone], None] | None,
) -> str | None:
    """Merge shards as they finish; the failure that ended the run, if one did."""
    total, done = len(pending), 0
    try:
        with _ctrl_c() as interrupted:
            while pending:
                if interrupted.is_set():
                    raise KeyboardInterrupt
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SECONDS)
                if ready:
                    done = _merge_one(
                        ray, ready[0], pending, manifest, merge, on_shard, done, total
                    )
    except _ShardFailed as failed:
        return failed.failure
    except KeyboardInterrupt:
        _cancel(ray, pending)
        return f"interrupted: {done} of {total} shard(s) finished; the report holds those"
    return None


class _ShardFailed(Exception):
    """A shard failed for good: `failure` says which and why, for the report."""

    def __init__(self, failure: str) -> None:
        self.failure = failure


@contextlib.contextmanager
def _ctrl_c() -> Iterator[threading.Event]:
    """An event Ctrl-C sets while shards are collected. A KeyboardInterrupt raised inside
    `ray.wait` was seen lost (the run went on to its end, exit 0), so the signal only sets
    the event and the loop, waking every WAIT_SECONDS, stops itself."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted  # only the main thread receives signals
        return
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def _merge_one(
    ray: Any,
    ref: Any,
    pending: dict[Any, int],
    manifest: Manifest,
    merge: Any,
    on_shard: Callable[[ShardDone], None] | None,
    done: int,
    total: int,
) -> int:
    """Merge one finished shard; how many are done now. A shard that failed for good ends
    the run (`_ShardFailed`), the others cancelled."""
    index = pending.pop(ref)
    try:
        result = ray.get(ref)
    except ray.exceptions.RayError as exc:
        where = manifest.shard_location(index)
        failure = (
            f"shard {index} ({where}) failed twice (Ray retried it once): "
            f"{_cause(exc)}; the report holds the {done} shard(s) that finished"
        )
        if on_shard is not None:
            on_shard(ShardDone(index, done, total, 0, 0, 0.0, failure))
        _cancel(ray, pending)
        raise _ShardFailed(failure) from None
    merge.add(result)
    done += 1
    if on_shard is not None:
        on_shard(
            ShardDone(
                index,
                done,
                total,
                result.judged,
                result.errors,
                result.seconds,
                peak_rss_mb=result.peak_rss_mb,
            )
        )
    return done


def _cancel(ray: Any, pending: dict[Any, int]) -> None:
    for ref in pending:
        with contextlib.suppress(Exception):
            ray.cancel(ref, force=True)
    pending.clear()


def _cause(exc: BaseException) -> str:
    """The last line of what failed in the task, not Ray's whole traceback."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(exc).__name__
