"""The container health checks of docker-compose.yml that are not a single command (standard
library only, quick, no Django):

    python deploy/healthcheck.py web [URL]       GET /healthz answers 200 (default: this container)
    python deploy/healthcheck.py beat SCHEDULE   beat wrote its schedule file within 5 minutes

Exit status 0 when healthy, 1 (with the reason on stderr) otherwise."""

from __future__ import annotations

import glob
import os
import sys
import time
import urllib.error
import urllib.request

WEB_URL = "http://127.0.0.1:8000/healthz"
# Celery beat writes its schedule at least every 3 minutes (celery.beat.Scheduler.sync_every)
# while it sends the periodic jobs, the first ones every few seconds.
BEAT_STALE_AFTER_SECONDS = 300


def _host() -> str:
    """A name Django accepts (the first of ALLOWED_HOSTS): a request for 127.0.0.1 would be
    refused with 400 unless that address were allowed too."""
    first = os.environ.get("ALLOWED_HOSTS", "").split(",")[0].strip().lstrip(".")
    return "localhost" if first in ("", "*") else first


def web(url: str = WEB_URL) -> str | None:
    request = urllib.request.Request(url, headers={"Host": _host()})  # noqa: S310 - http only
    try:
        with urllib.request.urlopen(request, timeout=8) as response:  # noqa: S310
            return None if response.status == 200 else f"{url} answered {response.status}"
    except urllib.error.HTTPError as error:
        return f"{url} answered {error.code}: {error.read()[:200].decode(errors='replace')}"
    except OSError as error:
        return f"{url}: {error}"


def beat(schedule: str) -> str | None:
    # Python's dbm may add a suffix to the name (.db, or .dat/.dir/.bak).
    files = glob.glob(glob.escape(schedule) + "*")
    if not files:
        return f"beat has written no schedule at {schedule}"
    age = time.time() - max(os.path.getmtime(name) for name in files)
    if age > BEAT_STALE_AFTER_SECONDS:
        return f"beat last wrote its schedule {age:.0f} s ago"
    return None


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "web" and len(argv) <= 2:
        problem = web(*argv[1:])
    elif len(argv) == 2 and argv[0] == "beat":
        problem = beat(argv[1])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
