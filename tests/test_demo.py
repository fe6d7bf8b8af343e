"""The README's first command ends with the desk serving the processed sample calls."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.desk_support import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.model
def test_demo_serve_prints_a_working_sign_in_and_stops_cleanly(
    redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "CALLSCRIBE_DATA": str(tmp_path / "var"), "REDIS_URL": redis_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "callscribe.cli", "demo", "--serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.lstrip().startswith("qa "):
                break
        output = "".join(lines)
        assert f"case desk: http://127.0.0.1:{port}/login" in output, output
        found = re.search(r"operator\s+user (\S+)\s+password (\S+)", output)
        assert found, output
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(100):
                try:
                    signed = client.post(
                        "/api/auth/login", json={"username": found[1], "password": found[2]}
                    )
                    break
                except httpx.ConnectError:
                    time.sleep(0.1)
            assert signed.status_code == 200, signed.text
            client.headers["Authorization"] = f"Bearer {signed.json()['token']}"
            cases = client.get("/api/desk/cases").json()
            assert cases["total"] == 2
            assert client.get("/review").status_code in (200, 303)
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert "Traceback" not in rest
