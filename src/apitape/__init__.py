"""apitape: record real HTTP traffic into cassettes and replay it against a new build.

The public API is what `__all__` lists (and `apitape.testing`, for tests); every other module
may change. Runs return data (a `RunReport` with `ok`, `exit_status` and `summary()`) and
print nothing::

    report = apitape.replay("cassettes/staging.yaml", target="http://127.0.0.1:9000")
    assert report.ok, report.summary()
"""

from apitape._version import __version__
from apitape.api import (
    check_contract,
    compare_live,
    diff,
    export_har,
    import_traffic,
    learn_noise,
    plan,
    recording,
    replay,
)
from apitape.cassette import (
    Cassette,
    CassetteWriter,
    convert_cassette,
    iter_exchanges,
    load_cassette,
    write_cassette,
)
from apitape.errors import (
    ApitapeError,
    CassetteError,
    CassetteNotFoundError,
    CassetteWriteError,
    ConfigError,
    ImportFileError,
    LocatedError,
    OpenApiSpecError,
    UsageError,
)
from apitape.models import (
    AppliedFile,
    Difference,
    Exchange,
    Group,
    InteractionReport,
    Outcome,
    Request,
    Response,
    RunReport,
    SkippedExchange,
    Substitution,
)
from apitape.runs.plan import PlannedExchange, ReplayPlan
from apitape.runs.settings import RunSettings
from apitape.verdict.latency import LatencyPolicy

__all__ = [
    "ApitapeError",
    "AppliedFile",
    "Cassette",
    "CassetteError",
    "CassetteNotFoundError",
    "CassetteWriteError",
    "CassetteWriter",
    "ConfigError",
    "Difference",
    "Exchange",
    "Group",
    "ImportFileError",
    "InteractionReport",
    "LatencyPolicy",
    "LocatedError",
    "OpenApiSpecError",
    "Outcome",
    "PlannedExchange",
    "ReplayPlan",
    "Request",
    "Response",
    "RunReport",
    "RunSettings",
    "SkippedExchange",
    "Substitution",
    "UsageError",
    "__version__",
    "check_contract",
    "compare_live",
    "convert_cassette",
    "diff",
    "export_har",
    "import_traffic",
    "iter_exchanges",
    "learn_noise",
    "load_cassette",
    "plan",
    "recording",
    "replay",
    "write_cassette",
]
