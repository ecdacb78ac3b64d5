"""Build hook: installs the agent's start-up hook, a `.pth` file, into site-packages.

Everything else about the build is in pyproject.toml. A `.pth` file runs only from the
root of a site directory, and setuptools has no pyproject.toml setting that puts a file
there, so `build_py` copies it beside the packages; from a wheel it lands in
site-packages, where its one line starts the agent when MEMLENS_AGENT=1 (and otherwise
only reads that variable).
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "memlens_agent_autostart.pth"
SOURCE = Path(__file__).resolve().parent / "src" / "memlens" / "agent" / PTH


class BuildPyWithStartupHook(build_py):
    def run(self) -> None:
        super().run()
        self.copy_file(str(SOURCE), str(Path(self.build_lib) / PTH))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH)]


setup(cmdclass={"build_py": BuildPyWithStartupHook})
