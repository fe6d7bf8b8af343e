"""The rq worker: the job functions and the worker class that runs them."""
