"""A real sshd (Debian's openssh-server) on 127.0.0.1 and a free port, with generated keys, for
the SSH tests and the attach benchmark. `Sshd(folder).ssh` is the client command line to use."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import textwrap
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


class SshdUnavailable(Exception):
    pass


def user_host() -> str:
    return f"{pwd.getpwuid(os.getuid()).pw_name}@127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    def __init__(self, folder: Path) -> None:
        self.dir = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        key = folder / "user_key"
        self.ssh = ["ssh", "-p", str(self.port), "-i", str(key), "-o", "StrictHostKeyChecking=no",
                    "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "BatchMode=yes"]

    def __enter__(self) -> Sshd:
        if not os.path.exists(SSHD):
            raise SshdUnavailable(f"sshd not found at {SSHD}: install Debian's openssh-server (.ci/run does)")
        if not shutil.which("ssh-keygen") or not shutil.which("ssh"):
            raise SshdUnavailable("the OpenSSH client (ssh, ssh-keygen) is not installed")
        d = self.dir
        d.chmod(0o700)
        for name in ("host_key", "user_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
        (d / "authorized_keys").write_text((d / "user_key.pub").read_text())
        (d / "authorized_keys").chmod(0o600)
        (d / "sshd_config").write_text(textwrap.dedent(f"""
            Port {self.port}
            ListenAddress 127.0.0.1
            HostKey {d / "host_key"}
            AuthorizedKeysFile {d / "authorized_keys"}
            PidFile {d / "sshd.pid"}
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            PermitRootLogin prohibit-password
            StrictModes no
            ClientAliveInterval 1
            ClientAliveCountMax 3
            """))
        os.makedirs("/run/sshd", exist_ok=True)
        log = open(d / "sshd.log", "wb")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        self.__exit__()
        raise SshdUnavailable(f"sshd did not start: {(d / 'sshd.log').read_text()[-500:]}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
