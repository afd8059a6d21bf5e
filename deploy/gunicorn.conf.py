"""gunicorn settings for Onshore: `gunicorn -c deploy/gunicorn.conf.py 'ivr:create_app()'`.

Twilio gives a webhook 15 s in all; every Onshore answer is built well inside one second,
so a worker stuck for 5 s is broken and is replaced, and Twilio still has time to try the
number's fallback URL.
"""

import gc
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "sync"
timeout = 5
graceful_timeout = 5
keepalive = 2
max_requests = 10000
max_requests_jitter = 1000
accesslog = "-"
# No query string or form values in the log: URLs carry flow state only, never the caller.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Once the app is loaded, move everything it built (modules, flows, centers) out of the
    garbage collector's sight: a full collection then scans what webhooks allocate, not
    ~50,000 long-lived objects, and no call waits ~30 ms (measured here) behind one. Then
    start this worker's chores timer (the spool replay): a thread made before the fork
    would not exist in the worker."""
    gc.freeze()
    _onshore(worker).chores.start()


def worker_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    """Stop the chores timer (in the worker, as it exits), letting a running chore finish."""
    onshore = _onshore(worker)
    if onshore is not None:
        onshore.chores.stop()


def _onshore(worker):
    """What create_app built, from the app this worker loaded (None before it loaded one)."""
    app = getattr(worker, "wsgi", None)
    return app.extensions["onshore"] if app is not None else None
