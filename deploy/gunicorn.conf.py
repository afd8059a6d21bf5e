"""gunicorn settings for Onshore: `gunicorn -c deploy/gunicorn.conf.py 'ivr:create_app()'`.

Twilio gives a webhook 15 s in all; every Onshore answer is built well inside one second,
so a worker stuck for 5 s is broken and is replaced, and Twilio still has time to try the
number's fallback URL.
"""

import atexit
import gc
import glob
import multiprocessing
import os
import shutil
import sys
import tempfile

# prometheus_client picks its multiprocess mode when it is first imported (ivr.metrics does):
# the folder must be named before anything below imports ivr. It is fresh for every server
# start (https://prometheus.github.io/client_python/multiprocess/: "must be wiped between
# process/Gunicorn runs"): a folder the operator names is emptied of metric files, else a
# private one is made and removed on exit. Forked workers inherit the variable. A reload
# (SIGHUP) reads this file again in the same master: it keeps the folder as it is.
_READY = "ONSHORE_METRICS_DIR_READY"
_MASTER = os.getpid()


def _remove_private_metrics_dir(folder: str) -> None:
    """At the master's exit, also after a worker failed to boot (gunicorn runs no on_exit
    hook then); workers inherit atexit handlers, hence the pid."""
    if os.getpid() == _MASTER:
        shutil.rmtree(folder, ignore_errors=True)


if not os.environ.get(_READY):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
        for _old in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
            os.remove(_old)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="onshore-metrics-")
        atexit.register(_remove_private_metrics_dir, os.environ["PROMETHEUS_MULTIPROC_DIR"])
    os.environ[_READY] = "1"

from gunicorn.glogging import Logger  # noqa: E402 - after the metrics folder is named
from prometheus_client import multiprocess  # noqa: E402

from ivr import logs  # noqa: E402
from ivr.errors import SettingsError  # noqa: E402
from ivr.settings import Settings  # noqa: E402

# The settings are checked here, in the master, before any worker boots: a missing or
# placeholder secret is one line and exit 1, not a traceback from every worker.
try:
    Settings.from_env(os.environ)
except SettingsError as exc:
    sys.exit(f"onshore: {exc}")  # the private metrics folder goes at exit (atexit, above)

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = "sync"
timeout = 5
graceful_timeout = 5
keepalive = 2
max_requests = 10000
max_requests_jitter = 1000
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
# Every line JSON, one event per line, every value escaped (ivr/logs.py): a path holding
# %0D%0A cannot forge a line. The access log has no query string or form values (URLs
# carry flow state, never the caller) and the CallSid once the signature verified.
logconfig_dict = logs.config(loglevel)


class JsonAccessLog(Logger):
    """gunicorn's logger, with its access lines written by ivr.logs.access_line."""

    def access(self, resp, req, environ, request_time):  # noqa: ARG002 - gunicorn's signature
        if self.access_log_enabled:
            micros = request_time.seconds * 1_000_000 + request_time.microseconds
            self.access_log.info(logs.access_line(environ, str(resp.status),
                                                  getattr(resp, "sent", None), micros))


logger_class = JsonAccessLog
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Once the app is loaded, move everything it built (modules, flows, centers) out of the
    garbage collector's sight: a full collection then scans what webhooks allocate, not
    ~50,000 long-lived objects, and no call waits ~30 ms (measured here) behind one. Then
    start this worker's chores timer (the spool replay): a thread made before the fork
    would not exist in the worker."""
    gc.freeze()
    onshore = _onshore(worker)
    if onshore is not None:  # the bench serves its comparison apps with this conf too
        onshore.chores.start()


def child_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    """In the master, once a worker is gone: its live gauges (the breaker's state) stop
    counting; its counters stay in the sums."""
    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    """Stop the chores timer (in the worker, as it exits), letting a running chore finish."""
    onshore = _onshore(worker)
    if onshore is not None:
        onshore.chores.stop()


def _onshore(worker):
    """What create_app built, from the app this worker loaded (None before it loaded one,
    or for an app that is not Onshore)."""
    app = getattr(worker, "wsgi", None)
    return app.extensions.get("onshore") if app is not None else None
