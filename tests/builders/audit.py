"""The audit chain in tests: its checkpoints and a verification of the log."""

from __future__ import annotations

import asyncio
from typing import Any

from lotse.api.runtime import Runtime
from lotse.storage.checkpoints import Checkpoints
from lotse.storage.verification import VerificationReport, run_verification


def checkpoints(runtime: Runtime) -> Checkpoints:
    assert runtime.checkpoints is not None
    return runtime.checkpoints


def verify(runtime: Runtime, **kwargs: Any) -> VerificationReport:
    public_key = checkpoints(runtime).public_key
    return asyncio.run(run_verification(runtime.database.url, public_key, **kwargs))
