# ruff: noqa: S603, S607 - the benchmark runs its own tools
"""The fake Cloud API: nginx, and its access log of every request's arrival, status and body."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from bench.broadcast.processes import ensure_tool, wait_port
from gateway.testing import error_answer, send_answer

ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")

# What the log lines tell: the delivery a send was for, and the number it went to.
CALLBACK = re.compile(r'"biz_opaque_callback_data":\s*"d:(\d+)"')
TO = re.compile(r'"to":\s*"\+?(\d+)"')


def ensure_nginx() -> bool:
    """nginx with its echo module, installed when missing and we are root."""
    return ensure_tool("nginx", ["nginx-light", "libnginx-mod-http-echo"], also=ECHO_MODULE)


def _compact(answer: dict) -> str:
    return json.dumps(answer, separators=(",", ":"))


class FakeNginx:
    """Answers every POST …/messages with a unique wamid after `latency` seconds, except a
    fraction `error_rate` answered 429/130429 at once; logs arrival time, status and body."""

    def __init__(self, workdir: Path, port: int, latency: float, error_rate: float) -> None:
        self.dir = workdir / "nginx"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.log = self.dir / "requests.log"
        inject = ""
        answer_error = ""
        if error_rate > 0:
            inject = (
                f'split_clients "${{request_id}}" $inject {{ {error_rate * 100:g}% "1"; * ""; }}'
            )
            rate_limited = _compact(error_answer(130429, "(#130429) Rate limit hit"))
            answer_error = f"if ($inject) {{ return 429 '{rate_limited}'; }}"
        sleep = f"echo_sleep {latency:g};" if latency > 0 else ""
        user = "user root root;" if os.geteuid() == 0 else ""
        # nginx fills in $request_id: every answer carries a new message id.
        accepted = _compact(send_answer("wamid.$request_id"))
        (self.dir / "nginx.conf").write_text(f"""
{user}
load_module {ECHO_MODULE};
worker_processes 1;
daemon off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {self.dir}/body;
  proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fastcgi;
  uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  client_body_buffer_size 64k;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  log_format fake escape=json '$msec $status $request_body';
  {inject}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location ~ /messages$ {{
      access_log {self.log} fake buffer=256k flush=1s;
      default_type application/json;
      {answer_error}
      echo_read_request_body;
      {sleep}
      echo '{accepted}';
    }}
  }}
}}
""")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "nginx",
                "-p",
                str(self.dir),
                "-c",
                str(self.dir / "nginx.conf"),
                "-e",
                str(self.dir / "error.log"),
            ],
            start_new_session=True,
        )
        wait_port(self.port)

    def flush(self) -> None:
        """Reopening the logs writes out nginx's buffered log lines."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGUSR1)
            time.sleep(0.5)

    def entries(self, since: float = 0.0) -> list[tuple[float, int, str]]:
        """(arrival, status, body) of every request logged at or after `since`."""
        self.flush()
        out = []
        if not self.log.exists():
            return out
        with self.log.open() as log:
            for line in log:
                moment, status, body = (line.rstrip("\n").split(" ", 2) + ["", ""])[:3]
                if float(moment) >= since:
                    out.append((float(moment), int(status), body.replace('\\"', '"')))
        return out

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
