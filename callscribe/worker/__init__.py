"""Worker stage: rq jobs, queue wiring, call intake and the drop-folder watcher."""

from callscribe.worker.queue import JOB_NAME, enqueue_call, open_queue

__all__ = ["JOB_NAME", "enqueue_call", "open_queue"]
