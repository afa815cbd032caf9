"""Jobs: the long work (training, export, evaluation) that runs in child processes.

One mechanism for all three (docs/ARCHITECTURE.md, "Jobs"): the child prints `JobEvent`s as JSON
lines (`events.emit`), the parent starts it at a lower priority with its stderr in a log
(`process.start_job`) and reads the events back (`process.follow`); `runs` owns the run folder,
`launch` knows each job's command line, `describe` says an event in words. Nothing here imports
torch, textual or llama_cpp.
"""
