"""A throwaway Orthanc PACS (with its DICOMweb plugin) in a network namespace of its own.

For tests and benchmarks: the server listens on the loopback of a fresh network namespace
(``unshare --net``, only ``lo`` up), so nothing outside the namespace can reach it and its ports
collide with nothing; clients run inside the same namespace through ``nsenter``
(:meth:`OrthancSandbox.run`). Debian's ``orthanc`` and ``orthanc-dicomweb`` packages provide the
server; :func:`unavailable_reason` says why a sandbox cannot start here (tests skip with it).
Storage and configuration live in a folder the caller gives (a test's temp dir); the server is
stopped by its PID.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

__all__ = ["DICOMWEB_PLUGIN", "OrthancSandbox", "unavailable_reason"]

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
HTTP_PORT = 8042
USER, PASSWORD = "cardioclarity", "sandbox-password"


def _orthanc() -> str | None:
    return shutil.which("Orthanc") or (
        "/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)


def _namespace_prefix() -> list[str]:
    """``unshare`` arguments: a new network namespace (and a user namespace when not root)."""
    return ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--net", "--map-root-user"]


def unavailable_reason() -> str | None:
    """Why no sandbox can start on this machine (None: it can)."""
    if _orthanc() is None:
        return "Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)"
    if not DICOMWEB_PLUGIN.exists():
        return f"the Orthanc DICOMweb plugin is missing ({DICOMWEB_PLUGIN}; apt-get install orthanc-dicomweb)"
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (util-linux / iproute2)"
    probe = subprocess.run([*_namespace_prefix(), "ip", "link", "set", "lo", "up"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot create a network namespace here ({probe.stderr.strip()[:200]})"
    return None


class OrthancSandbox:
    """Orthanc in its own network namespace; use as a context manager.

    Parameters
    ----------
    folder : Path
        Where the configuration, storage and log go (created).
    auth : bool
        Require HTTP basic authentication (:data:`USER` / :data:`PASSWORD`).
    reject_sr_of_patient : str, optional
        Drop every SR of this Patient ID (an Orthanc Lua ``ReceivedInstanceFilter``), to see
        how a client copes with a PACS that does not store what it was sent. (Orthanc's
        DICOMweb plugin still answers such a STOW with success.)

    Attributes
    ----------
    url : str
        The DICOMweb root, valid inside the namespace (``http://127.0.0.1:8042/dicom-web``).
    pid : int
        The server's PID (the namespace lives as long as the server).
    """

    def __init__(self, folder: str | Path, *, auth: bool = True,
                 reject_sr_of_patient: str | None = None) -> None:
        self.folder = Path(folder)
        self.auth = auth
        self.reject_sr_of_patient = reject_sr_of_patient
        self.url = f"http://127.0.0.1:{HTTP_PORT}/dicom-web"
        self.root = f"http://127.0.0.1:{HTTP_PORT}"
        self.pid: int | None = None
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> OrthancSandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def config(self) -> dict:
        """The Orthanc configuration written to ``folder/orthanc.json``."""
        storage = self.folder / "storage"
        lua = []
        if self.reject_sr_of_patient:
            script = self.folder / "reject.lua"
            script.write_text("function ReceivedInstanceFilter(dicom, origin, info)\n"
                              "  return not (dicom.Modality == 'SR' and "
                              f"dicom.PatientID == '{self.reject_sr_of_patient}')\nend\n")
            lua = [str(script)]
        return {"LuaScripts": lua,
            "Name": "CARDIOCLARITY-SANDBOX", "StorageDirectory": str(storage),
            "IndexDirectory": str(storage), "HttpPort": HTTP_PORT, "DicomPort": 4242,
            "RemoteAccessAllowed": False, "AuthenticationEnabled": self.auth,
            "RegisteredUsers": {USER: PASSWORD} if self.auth else {},
            "Plugins": [str(DICOMWEB_PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "HttpTimeout": 30, "StableAge": 1, "ConcurrentJobs": 1, "HttpThreadsCount": 8,
        }

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until its DICOMweb root answers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        cfg = self.folder / "orthanc.json"  # config() may write a Lua script beside it
        cfg.write_text(json.dumps(self.config(), indent=1))
        log = (self.folder / "orthanc.log").open("wb")
        # `exec` keeps one PID from unshare to Orthanc: the PID we kill is the server's.
        self._proc = subprocess.Popen(
            [*_namespace_prefix(), "sh", "-c", f'ip link set lo up && exec "{_orthanc()}" "{cfg}"'],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self._proc.pid
        deadline = time.monotonic() + timeout
        probe = ("import sys, urllib.request as u; r = u.Request(sys.argv[1]); "
                 "r.add_header('Authorization', 'Basic ' + sys.argv[2]); u.urlopen(r, timeout=2)")
        import base64

        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self._proc.returncode}; see "
                                   f"{self.folder / 'orthanc.log'}")
            res = self.run(["python3", "-c", probe, f"{self.root}/system", token], timeout=10)
            if res.returncode == 0:
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout} s; see {self.folder / 'orthanc.log'}")

    def env(self, *, with_auth: bool = True) -> dict[str, str]:
        """The environment of a client run in the namespace (basic-auth variables set)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CARDIOCLARITY_PACS_")}
        if with_auth and self.auth:
            env.update(CARDIOCLARITY_PACS_USER=USER, CARDIOCLARITY_PACS_PASSWORD=PASSWORD)
        return env

    def run(self, cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 120,
            **kwargs) -> subprocess.CompletedProcess:
        """Run ``cmd`` inside the server's network namespace (text output captured)."""
        if self.pid is None:
            raise RuntimeError("the sandbox is not started")
        ns = ["nsenter", "-t", str(self.pid), "--net"]
        if os.geteuid() != 0:
            ns += ["--user", "--preserve-credentials"]
        return subprocess.run([*ns, *cmd], env=env if env is not None else self.env(),
                              capture_output=True, text=True, timeout=timeout, **kwargs)

    def stop(self) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL after 10 s)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)
