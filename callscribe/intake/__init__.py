"""Admits a recording: registers it in the ledger and queues it by job name.

No web framework and no Whisper here: the drop-folder watcher, the upload API (in ``web``) and
``callscribe enqueue`` all come through these modules.
"""
