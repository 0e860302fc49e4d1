"""Which CPU kernels CTranslate2 runs here, and how to make every process run the same ones.

Why this matters for evidence: CTranslate2 picks its vector kernels once per process
(``CT2_FORCE_CPU_ISA``, else AVX2 where the CPU has it, else AVX, else generic code), and
its matrix products go to oneDNN, which picks its own (``ONEDNN_MAX_CPU_ISA``).  Different
kernels round differently, and on a close call Whisper's beam search then takes another
word ("deadbeat" / "bad beat").  On one machine, with the same settings, every process
takes the same path, so the local executor, ``watch`` and Ray workers agree; across
machines they agree only when the same path is forced.  So the path is part of the
settings that change the words: it is recorded with every run, a run can force it
(``--cpu-isa``), and the driver hands what it forced to every Ray worker.

CTranslate2 does not report its choice through Python; ``cpu_isa`` applies its rule
(``src/cpu/cpu_isa.cc``: "AVX512 can only be enabled with the environment variable"), and
a test checks it against CTranslate2's own log line on the machine it runs on.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache

from .base import EngineError

ISA_ENV = "CT2_FORCE_CPU_ISA"
# Environment that chooses kernels (not threads: those are settings of their own); a Ray
# worker gets the driver's values of the ones the driver has set.
KERNEL_ENV = (ISA_ENV, "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "CT2_USE_MKL")
X86_ISAS = ("GENERIC", "AVX", "AVX2", "AVX512")
_FLAG = {"AVX": "avx", "AVX2": "avx2", "AVX512": "avx512f"}


@lru_cache(maxsize=1)
def cpu_info() -> tuple[str, str, frozenset[str]]:
    """(vendor, model name, flags) of this machine's first CPU, from /proc/cpuinfo."""
    vendor, model, flags = "", platform.processor() or platform.machine(), frozenset()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "vendor_id" and not vendor:
                    vendor = value
                elif key == "model name" and value:
                    model = value
                elif key == "flags" and not flags:
                    flags = frozenset(value.split())
                elif not line.strip() and vendor:
                    break  # the first processor is enough
    except OSError:
        pass
    return vendor, model, flags


def _x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def supported_isas(flags: frozenset[str] | None = None) -> list[str]:
    """The kernel paths CTranslate2 can be forced to on this CPU."""
    if not _x86():
        return ["GENERIC", "NEON"] if platform.machine().lower() in ("aarch64", "arm64") else ["GENERIC"]
    flags = cpu_info()[2] if flags is None else flags
    return ["GENERIC"] + [isa for isa in X86_ISAS[1:] if _FLAG[isa] in flags]


def cpu_isa(env: dict[str, str] | os._Environ | None = None,
            flags: frozenset[str] | None = None) -> str:
    """The kernel path CTranslate2 takes in a process with ``env`` on this CPU."""
    env = os.environ if env is None else env
    forced = (env.get(ISA_ENV) or "").strip()
    if forced:
        return forced
    if not _x86():
        return "NEON" if "NEON" in supported_isas() else "GENERIC"
    have = supported_isas(flags)
    return "AVX2" if "AVX2" in have else "AVX" if "AVX" in have else "GENERIC"


def check_isa(isa: str) -> str:
    """``isa`` in CTranslate2's spelling, or an ``EngineError`` saying what this CPU offers."""
    name = isa.strip().upper()
    have = supported_isas()
    if name not in have:
        known = X86_ISAS if _x86() else ("GENERIC", "NEON")
        what = "is not a kernel path" if name not in known else "is not supported by this CPU"
        raise EngineError(f"--cpu-isa {isa}: {name} {what}; this CPU offers {', '.join(have)}")
    return name


def force_isa(isa: str | None) -> None:
    """Make this process's CTranslate2 take ``isa`` (None: its own choice).

    CTranslate2 reads the variable once, when it first runs; a process that already
    loaded a model on another path cannot change it, and is told so rather than
    silently keeping the old path.
    """
    if not isa:
        return
    name = check_isa(isa)
    current = cpu_isa()
    if _engine_loaded() and current != name:
        raise EngineError(f"this process already runs CTranslate2 on the {current} kernel path; "
                          f"--cpu-isa {name} needs a new process")
    os.environ[ISA_ENV] = name


_loaded = False


def _engine_loaded() -> bool:
    return _loaded


def note_loaded() -> None:
    """Called once a model is loaded: from then on this process's path is fixed."""
    global _loaded
    _loaded = True


def forwarded_env(env: dict[str, str] | os._Environ | None = None) -> dict[str, str]:
    """The kernel-choosing variables set here, for processes that must take the same path."""
    env = os.environ if env is None else env
    return {k: env[k] for k in KERNEL_ENV if env.get(k)}


def describe() -> dict[str, str | bool]:
    """What a run records about the kernels its words came from."""
    vendor, model, _ = cpu_info()
    try:
        import ctranslate2

        version = ctranslate2.__version__
    except Exception:  # noqa: BLE001 - informational only
        version = "?"
    return {"cpu": model, "cpu_vendor": vendor, "ctranslate2": version, "cpu_isa": cpu_isa(),
            "cpu_isa_forced": bool(os.environ.get(ISA_ENV)),
            "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA")
            or os.environ.get("DNNL_MAX_CPU_ISA") or "auto"}
