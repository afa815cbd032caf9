"""Getting a run ready for the app: bring the store up to date and write the dataset snapshot.

The same steps as `slmtui train`, without prompt generation by the base model (the dataset is
built with `generator=None`), so that pressing a key starts training within seconds; generated
chat pairs already cached from an earlier `slmtui train` are not used by app-started runs.
"""

from __future__ import annotations

import os
import subprocess

from slmtui.config import Config
from slmtui.core import training
from slmtui.core.dataset import build_dataset
from slmtui.core.ingest import Ingestor
from slmtui.workspace import Workspace


def prepare_run(workspace: Workspace, config: Config) -> training.RunFolder:
    """A new run folder with its dataset snapshot; slow (seconds): call it from a worker."""
    with Ingestor(workspace, config) as ingestor:
        ingestor.scan()
        run = training.new_run(workspace, config)
        build_dataset(ingestor.store, run.dataset, config.dataset, None, "none")
    return run


# How much lower than the app a job child runs (Unix nice levels; 0 would be the same priority).
JOB_NICENESS = 10


def lower_priority(process: subprocess.Popen, niceness: int = JOB_NICENESS) -> None:
    """Let a job child (training, export) yield the CPU to the app when both want it.

    Called right after the start, before the child loads torch and starts its threads, which
    inherit the priority. A job alone on the machine still gets every core; only when the app
    has a frame to draw does the job wait for it. Where priorities cannot be set, nothing changes.
    """
    if not hasattr(os, "setpriority"):
        return
    try:
        current = os.getpriority(os.PRIO_PROCESS, process.pid)
        os.setpriority(os.PRIO_PROCESS, process.pid, min(19, current + niceness))
    except OSError:  # the child already ended, or the system refuses
        pass
