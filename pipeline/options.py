"""What a run is asked to do: plain, picklable settings, below the flow and the executors.

``Options`` travels from the CLI to ``flow.Pipeline`` and, for ``--executor ray``,
to every Ray worker; ``RayOptions`` is its executor part.  They live here, with
no imports from the rest of the package, so that the flow (which picks the
executor) and the executors (which prepare files with these options) can both
import them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

EXECUTORS = ("local", "ray")
SHIP_MODES = ("auto", "always", "never")


@dataclass
class RayOptions:
    """How the Ray executor finds and uses its cluster (all picklable plain values)."""

    address: str | None = None  # None: start a private cluster here; "auto" or HOST:PORT: join one
    workers: int = 0  # worker actors; 0: as many as the cluster's CPUs (or GPUs) allow
    cpus_per_worker: float = 1.0  # also the CPU threads each worker's model uses
    gpus_per_worker: float = 0.0  # > 0: each worker holds that share of a GPU (device cuda)
    # "auto": workers read the original where the driver found it when they can see the very
    # same bytes there, else the driver sends them; "always": always send; "never": shared path only
    ship_bytes: str = "auto"
    in_flight_per_worker: int = 2  # files queued per worker so none waits for the driver


@dataclass
class Options:
    engine: str = "faster-whisper"
    model: str | None = None
    language: str | None = None  # None = detect per file
    device: str = "auto"
    threads: int = 0
    cpu_isa: str | None = None  # faster-whisper's kernel path (engines/kernels.py); None: its own
    split_stereo: bool = True
    rules: list[Path] = field(default_factory=list)
    cache_dir: Path | None = None
    retry_failed: bool = True
    script: str = "simplified"  # Chinese output: "simplified" or "traditional"
    workers: int = 0  # files transcribed at once; 0: automatic (one per 1-2 cores, faster-whisper)
    jurisdiction: str | None = None  # call-pattern thresholds (data/call_rules.yaml); None: default
    call_log: Path | None = None  # a phone call-log CSV to import before the call-pattern check
    diarize: bool = False  # mono: estimated two-speaker split (pipeline/diarize.py), labels say so
    executor: str = "local"  # "local": threads here; "ray": Ray workers (docs/scale-out.md)
    ray: RayOptions = field(default_factory=RayOptions)  # used with executor "ray"
