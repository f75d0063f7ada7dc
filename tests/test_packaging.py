"""AgeLab installs as one import name, `agelab`, beside the field's other libraries, and its
layering holds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent
PORTIONS = ("instruments", "protocols", "gui")

# InstrumentKit's runtime dependencies that install on a current Python. Its own pins,
# ruamel.yaml~=0.15 (no longer builds) and enum34 (a backport that shadows the stdlib enum),
# do not, so it goes in with --no-deps and a current ruamel.yaml.
INSTRUMENTKIT_DEPS = ["quantities", "future", "python-vxi11", "python-usbtmc", "pyusb",
                      "ruamel.yaml", "numpy", "pyserial", "pyvisa"]

SHORT_STUDY = {
    "study": "packaging",
    "station": {"virtual": {"pixels": ["blue-znsete"], "speedup": 20000, "seed": 1}},
    "measurements": {"jvl": {"kind": "jv", "start": "0 V", "stop": "4 V", "points": 11}},
    "channels": [{"name": "blue", "pixel": 1, "area": "4 mm^2", "cd_m2_per_A": 8.54e7,
                  "stress": {"current_density": "100 mA/cm^2"}, "sampling": "10 min",
                  "checkpoints": {"at": ["0 h"], "measure": ["jvl"]},
                  "stop": {"max_time": "5 h"}}],
}


def test_every_sub_package_is_listed_for_the_build():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    on_disk = {"agelab." + ".".join(init.parent.relative_to(ROOT).parts)
               for portion in PORTIONS for init in (ROOT / portion).rglob("__init__.py")}
    assert listed == on_disk


def _pip(python: Path, *args: str) -> None:
    subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", *args], check=True, timeout=600,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.timeout(900)
def test_installs_beside_instrumentkit_as_one_import_name(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _pip(python, "--no-deps", "instrumentkit")
    _pip(python, *INSTRUMENTKIT_DEPS)
    source = tmp_path / "source"  # built from a copy: a build writes into its source folder
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "runs", "*.egg-info", "__pycache__", ".*_cache"))
    _pip(python, str(source))  # a regular (not editable) install, as a user's pip does it
    work = tmp_path / "work"  # away from the source tree, so nothing is imported from it
    work.mkdir()

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=work, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONNOUSERSITE": "1"})

    probe = run(str(python), "-c", """
import importlib.metadata as md, importlib.util, json
def tops(dist):
    return sorted({f.parts[0] for f in md.distribution(dist).files
                   if f.suffix == ".py" and not f.parts[0].endswith(".dist-info")
                   and f.parts[0] != ".."})
ours = {str(f) for f in md.distribution("agelab").files}
theirs = {str(f) for f in md.distribution("instrumentkit").files}
import instruments, instruments.keithley
print(json.dumps({"agelab": tops("agelab"), "instruments": instruments.__file__,
                  "shared": sorted(ours & theirs - {"../../../bin/__pycache__"})}))
""")
    assert probe.returncode == 0, probe.stderr
    found = yaml.safe_load(probe.stdout)
    assert found["agelab"] == ["agelab"]
    assert f"{os.sep}site-packages{os.sep}instruments{os.sep}" in found["instruments"]
    assert not [f for f in found["shared"] if not f.startswith("..")]

    agelab = str(env_dir / "bin" / "agelab")
    describe = run(agelab, "sim", "--describe", "red-cdse")
    assert describe.returncode == 0 and "626" in describe.stdout, describe.stderr
    check = run(agelab, "check", str(ROOT / "config.yaml"))
    assert check.returncode == 0, check.stdout + check.stderr
    config = work / "short.yaml"
    config.write_text(yaml.safe_dump(SHORT_STUDY, sort_keys=False))
    study = run(agelab, "run", str(config), "--out", str(work / "runs"))
    assert study.returncode == 0, study.stdout[-2000:] + study.stderr[-2000:]
    assert list((work / "runs").glob("packaging-*.sqlite"))


def _lint(root: Path) -> subprocess.CompletedProcess:
    """lint-imports with the project's contracts on the portions under ``root``/agelab."""
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                          cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root)})


def test_the_import_contracts_fail_when_a_layer_reaches_past_another(tmp_path):
    tree = tmp_path / "agelab"
    for portion in PORTIONS:
        shutil.copytree(ROOT / portion, tree / portion,
                        ignore=shutil.ignore_patterns("__pycache__"))
    kept = _lint(tmp_path)
    assert kept.returncode == 0, kept.stdout[-3000:]
    with (tree / "protocols" / "analysis" / "jv.py").open("a") as fh:
        fh.write("\nfrom agelab.protocols.engine import runner  # noqa: E402, F401\n")
    with (tree / "protocols" / "config" / "checks.py").open("a") as fh:
        fh.write("\nfrom agelab.instruments.sim.model import qled  # noqa: E402, F401\n")
    broken = _lint(tmp_path)
    assert broken.returncode == 1
    assert "the analysis imports neither the engine nor the instruments BROKEN" in broken.stdout
    assert "only the station's virtual backend reaches the simulator BROKEN" in broken.stdout
    assert "agelab.protocols.analysis.jv -> agelab.protocols.engine.runner" in broken.stdout
