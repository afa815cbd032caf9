"""Getting a training run ready: the store brought up to date, a run folder, its dataset.

The one preparation for `slmtui train` and the app's retrain, so both train the same snapshot.
"""

from __future__ import annotations

from collections.abc import Callable

from slmtui.config import Config
from slmtui.runs import RunFolder, new_run
from slmtui.workspace import Workspace


def prepare_run(
    workspace: Workspace,
    config: Config,
    *,
    from_scratch: bool = False,
    generator=None,
    generate: bool = True,
    preview: bool = False,
    scan: bool = True,
    say: Callable[[str], None] = lambda text: None,
) -> RunFolder:
    """Bring the store up to date, make a run folder and write its dataset snapshot.

    The one preparation for `slmtui train` and the app. `generator` (the base model through
    llama.cpp, see slmtui.dataset.generator) writes the requests of chat pairs; without one they
    become "continue" pairs. Slow (seconds, minutes with generation): the app calls it from a
    worker thread. A `preview` run (the Train screen's plan of the next run) is not a run.
    Without `scan` the store is taken as it is: the app's watcher keeps it current.
    """
    from slmtui.dataset.build import build_dataset
    from slmtui.dataset.dialogue import DialogueSettings
    from slmtui.ingest.ingestor import Ingestor
    from slmtui.ingest.store import Store
    from slmtui.ingest.store.backups import back_up

    if scan:
        with Ingestor(workspace, config) as ingestor:
            say(f"Writing folder: {ingestor.scan().summary()}")
    with Store(workspace.db_path) as store:
        run = new_run(workspace, config, from_scratch=from_scratch, preview=preview)

        def progress(done: int, total: int) -> None:
            if total and (done == total or done % 10 == 0):
                say(f"  writing requests with the base model: {done}/{total}")

        build = build_dataset(
            store,
            run.dataset,
            config.dataset,
            generator,
            generator.key if generator else "none",
            progress=progress,
            generate=generate,
            dialogue=DialogueSettings.from_config(config),
        )
    kinds = ", ".join(
        f"{count} {kind}" for kind, count in sorted(build.stats["kinds"].items()) if count
    )
    say(f"Dataset {build.hash[:12]}: {kinds}; {build.stats['val']} validation examples")
    if build.stats["pending"]:
        say(
            f"{build.stats['pending']} chat pairs were still being prepared; "
            "they train as 'continue' pairs this time"
        )
    if not preview:  # what only the store holds, requests just written included, kept aside
        back_up(workspace.db_path, "before-run")
    return run
