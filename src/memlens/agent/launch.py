"""What a launcher gives a child so that its agent starts with no change to its code.

A `.pth` file only runs from a site directory, and PYTHONPATH entries are not site
directories; so the child gets a private directory on PYTHONPATH holding a
`sitecustomize.py` that processes the `.pth` found beside it and then runs whatever
`sitecustomize` the child would have run without it. The directory lives in the private
runtime directory (0700): a directory on another process's PYTHONPATH that someone else
could write to would let them run code in it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from memlens.agent import registry

PTH_NAME = "memlens_agent_autostart.pth"
PTH_FILE = Path(__file__).resolve().with_name(PTH_NAME)
# The directory that holds the memlens package, for children whose interpreter lacks it.
MEMLENS_HOME = Path(__file__).resolve().parents[2]

_SITECUSTOMIZE = '''\
"""Starts the memlens agent when MEMLENS_AGENT=1, then runs any other sitecustomize.

Written by memlens (memlens.agent.launch) for the processes it starts; safe to delete.
"""
import os
import site
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_MEMLENS_HOME = {home!r}


def _start_agent():
    # Last on the path, and only while the .pth beside this file runs: the program's own
    # modules always win, and the program does not see memlens's neighbours afterwards.
    added = _MEMLENS_HOME not in sys.path
    if added:
        sys.path.append(_MEMLENS_HOME)
    try:
        site.addsitedir(_HERE)
    finally:
        if added and _MEMLENS_HOME in sys.path:
            sys.path.remove(_MEMLENS_HOME)


def _next_sitecustomize():
    import importlib.machinery
    import importlib.util

    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules[__name__] = module
    spec.loader.exec_module(module)


try:
    _start_agent()
except Exception as exc:
    sys.stderr.write("memlens agent: not started: %r\\n" % (exc,))
_next_sitecustomize()
'''


def autostart_dir() -> Path:
    """A private directory with `sitecustomize.py` and the `.pth`, made once per content."""
    pth = PTH_FILE.read_bytes()
    sitecustomize = _SITECUSTOMIZE.format(home=str(MEMLENS_HOME)).encode("utf-8")
    digest = hashlib.sha256(pth + b"\0" + sitecustomize).hexdigest()[:12]
    directory = registry.runtime_dir() / f"autostart-{digest}"
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory, 0o700)
    _write_if_changed(directory / PTH_NAME, pth)
    _write_if_changed(directory / "sitecustomize.py", sitecustomize)
    return directory


def autostart_env(base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base_env` (default: this process's) plus what makes a Python child start its agent."""
    env = dict(os.environ if base_env is None else base_env)
    hook = str(autostart_dir())
    existing = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != hook]
    env["PYTHONPATH"] = os.pathsep.join([hook, *existing])
    env["MEMLENS_AGENT"] = "1"
    return env


def _write_if_changed(path: Path, data: bytes) -> None:
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
