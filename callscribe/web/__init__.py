"""The case desk's one FastAPI app (``callscribe serve``): the APIs and the operator and QA
pages. It never imports Whisper or the worker; calls are queued by job name."""
