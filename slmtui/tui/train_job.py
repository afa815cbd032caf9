"""Getting a run ready for the app: bring the store up to date and write the dataset snapshot.

The same steps as `slmtui train`, without prompt generation by the base model (the dataset is
built with `generator=None`), so that pressing a key starts training within seconds; generated
chat pairs already cached from an earlier `slmtui train` are not used by app-started runs.
"""

from __future__ import annotations

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
