"""A throw-away JupyterLab server for browser tests: free port, random token, private settings.

Everything it writes (settings, workspaces, runtime files, the server log) lives under the given
temporary folder, so a test never reads or changes the user's Jupyter configuration.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

STARTUP_TIMEOUT_S = 90.0
SHUTDOWN_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.5
# Lab settings, by plugin: render every cell (not just those on screen) so that outputs far down the
# notebook can be queried, and never ask to fetch Jupyter news (no network, no pop-up over cells).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JupyterLabServer:
    """``with JupyterLabServer(root, scratch, env) as server:`` — ``server.url(path)`` opens a page.

    Args:
        root: folder the server shows (its notebooks).
        scratch: folder for settings, workspaces, runtime files and ``jupyter.log``.
        env: extra environment variables for the server and its kernels.
    """

    def __init__(self, root: Path, scratch: Path, env: dict[str, str] | None = None):
        self.root, self.scratch = Path(root), Path(scratch)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.log_path = self.scratch / "jupyter.log"
        self.extra_env = env or {}
        self._process: subprocess.Popen | None = None

    def url(self, path: str = "lab") -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def __enter__(self):
        settings = self.scratch / "settings"
        for plugin, values in LAB_SETTINGS.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = {
            **os.environ,
            **self.extra_env,
            "JUPYTER_RUNTIME_DIR": str(self.scratch / "runtime"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={self.port}", "--ip=127.0.0.1",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--ServerApp.port_retries=0", "--ServerApp.terminals_enabled=False",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={self.scratch / 'workspaces'}",
        ]  # fmt: skip
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # CI containers run as root
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root
        )
        log.close()
        try:
            self._wait_until_up()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self._process.returncode}; log:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(POLL_INTERVAL_S)
        raise TimeoutError(f"jupyter lab did not answer within {STARTUP_TIMEOUT_S:.0f} s; log:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.is_file() else ""

    def __exit__(self, *exc_info) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            self._process.wait(SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
