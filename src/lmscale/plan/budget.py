"""Budgets: FLOPs <-> accelerator time, money, energy and CO2, each with its assumptions.

Peak figures are dense (no 2:4 sparsity) bf16/fp16 tensor throughput from vendor data sheets;
board power is the data sheet's maximum (TDP/TBP). Energy counts the accelerators' boards only:
host CPUs, memory, network and storage draw power too and are not counted (PUE scales only what is
counted), so the figure is a lower bound on a training run's energy, not an upper one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lmscale.errors import InputError

DEFAULT_MFU = 0.4  # a well-tuned large dense-transformer run reaches ~0.35-0.5 model FLOPs utilisation
DEFAULT_PUE = 1.2  # assumed data-centre power usage effectiveness (facility energy / IT energy)
DEFAULT_GRID_KG_PER_KWH = 0.4  # assumed grid carbon intensity, kg CO2e per kWh; set your own


@dataclass(frozen=True)
class Accelerator:
    key: str
    name: str
    peak_flops: float  # dense bf16 (fp16 where the part has no bf16) FLOP/s
    board_power_w: float | None  # data-sheet maximum board power; None where not published
    source: str


_CATALOGUE: tuple[Accelerator, ...] = (
    Accelerator(
        "v100",
        "NVIDIA V100 SXM2",
        125e12,
        300.0,
        "NVIDIA V100 data sheet: 125 TFLOPS fp16 tensor (no bf16), 300 W (SXM2)",
    ),
    Accelerator(
        "a100",
        "NVIDIA A100 SXM 80GB",
        312e12,
        400.0,
        "NVIDIA A100 data sheet: BF16 tensor 312 TFLOPS dense (624 with sparsity), max TDP 400 W (SXM)",
    ),
    Accelerator(
        "h100-pcie",
        "NVIDIA H100 PCIe",
        756e12,
        350.0,
        "NVIDIA H100 data sheet: BF16 tensor 1,513 TFLOPS with sparsity = 756 dense, max TDP 350 W",
    ),
    Accelerator(
        "h100",
        "NVIDIA H100 SXM",
        989e12,
        700.0,
        "NVIDIA H100 data sheet: BF16 tensor 1,979 TFLOPS with sparsity = 989 dense, max TDP 700 W",
    ),
    Accelerator(
        "h200",
        "NVIDIA H200 SXM",
        989e12,
        700.0,
        "NVIDIA H200 data sheet: BF16 tensor 1,979 TFLOPS with sparsity = 989 dense, max TDP 700 W",
    ),
    Accelerator(
        "b200",
        "NVIDIA B200 (HGX, 1000 W)",
        2.25e15,
        1000.0,
        "NVIDIA HGX B200 specifications: FP16/BF16 tensor 4.5 PFLOPS with sparsity = 2.25 dense per GPU, 1000 W",
    ),
    Accelerator(
        "mi300x",
        "AMD Instinct MI300X",
        1307.4e12,
        750.0,
        "AMD MI300X data sheet: peak BF16 1307.4 TFLOPS dense (2614.9 with sparsity), 750 W TBP",
    ),
    Accelerator(
        "tpu-v5e",
        "Google Cloud TPU v5e",
        197e12,
        None,
        "Google Cloud TPU v5e docs: peak compute per chip (bf16) 197 TFLOPS; power not published",
    ),
    Accelerator(
        "tpu-v5p",
        "Google Cloud TPU v5p",
        459e12,
        None,
        "Google Cloud TPU v5p docs: peak compute per chip (bf16) 459 TFLOPS; power not published",
    ),
)
ACCELERATORS: dict[str, Accelerator] = {a.key: a for a in _CATALOGUE}
_ALIASES = {
    "h100-sxm": "h100",
    "h200-sxm": "h200",
    "a100-sxm": "a100",
    "a100-80gb": "a100",
    "v5p": "tpu-v5p",
    "v5e": "tpu-v5e",
    "tpuv5p": "tpu-v5p",
    "tpuv5e": "tpu-v5e",
}


def get_accelerator(name: str) -> Accelerator:
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    key = _ALIASES.get(key, key)
    if key not in ACCELERATORS:
        raise InputError(f"unknown accelerator {name!r}; known: {', '.join(ACCELERATORS)}")
    return ACCELERATORS[key]


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InputError(
            f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}"
        )
    return v


def check_flops(flops: float) -> float:
    return _positive("compute budget (FLOPs)", flops)


@dataclass(frozen=True)
class Costs:
    """What running for `hours` on the hardware costs; money/energy/CO2 are None when unknown."""

    hours: float
    accelerator_hours: float
    money: float | None
    energy_kwh: float | None
    co2_kg: float | None

    def to_dict(self) -> dict[str, float | None]:
        return {
            "hours": self.hours,
            "days": self.hours / 24.0,
            "accelerator_hours": self.accelerator_hours,
            "cost": self.money,
            "energy_kwh": self.energy_kwh,
            "co2_kg": self.co2_kg,
        }


@dataclass(frozen=True)
class Hardware:
    """A training cluster: `count` accelerators at `mfu` of dense peak, optional price and power."""

    accelerator: Accelerator
    count: int = 1
    mfu: float = DEFAULT_MFU
    price_per_hour: float | None = None  # per accelerator-hour
    pue: float = DEFAULT_PUE
    grid_kg_per_kwh: float = DEFAULT_GRID_KG_PER_KWH
    power_w: float | None = None  # overrides the data-sheet board power

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or int(self.count) != self.count or self.count < 1:
            raise InputError(f"accelerator count must be a positive integer, got {self.count!r}")
        if not (math.isfinite(float(self.mfu)) and 0.0 < float(self.mfu) <= 1.0):
            raise InputError(f"MFU must be in (0, 1], got {self.mfu!r}")
        if self.price_per_hour is not None:
            _positive("price per accelerator-hour", self.price_per_hour, allow_zero=True)
        if not (math.isfinite(float(self.pue)) and float(self.pue) >= 1.0):
            raise InputError(f"PUE must be >= 1, got {self.pue!r}")
        _positive("grid carbon intensity (kg CO2e/kWh)", self.grid_kg_per_kwh, allow_zero=True)
        if self.power_w is not None:
            _positive("board power (W)", self.power_w)

    @property
    def sustained_flops_per_s(self) -> float:
        return self.accelerator.peak_flops * self.mfu * self.count

    @property
    def board_power_w(self) -> float | None:
        return self.power_w if self.power_w is not None else self.accelerator.board_power_w

    def flops_for_hours(self, hours: float) -> float:
        return self.sustained_flops_per_s * _positive("hours", hours) * 3600.0

    def hours_for_flops(self, flops: float) -> float:
        return check_flops(flops) / self.sustained_flops_per_s / 3600.0

    def costs(self, hours: float) -> Costs:
        acc_hours = hours * self.count
        money = None if self.price_per_hour is None else acc_hours * self.price_per_hour
        energy = None
        co2 = None
        if self.board_power_w is not None:
            energy = self.board_power_w * acc_hours * self.pue / 1000.0
            co2 = energy * self.grid_kg_per_kwh
        return Costs(hours, acc_hours, money, energy, co2)

    @property
    def price_per_flop(self) -> float | None:
        if self.price_per_hour is None:
            return None
        return self.price_per_hour * self.count / (self.sustained_flops_per_s * 3600.0)

    def assumptions(self) -> dict[str, Any]:
        a = self.accelerator
        out: dict[str, Any] = {
            "accelerator": a.name,
            "peak_flops_per_s": a.peak_flops,
            "peak_source": a.source,
            "count": self.count,
            "mfu": self.mfu,
            "sustained_flops_per_s": self.sustained_flops_per_s,
            "price_per_accelerator_hour": self.price_per_hour,
            "board_power_w": self.board_power_w,
            "pue": self.pue,
            "grid_kg_co2e_per_kwh": self.grid_kg_per_kwh,
            "energy_rule": "accelerator board power x accelerator-hours x PUE: hosts, network and storage are not "
            "counted, so this is a lower bound on the run's energy",
        }
        if self.board_power_w is None:
            out["energy_rule"] = "board power not published for this accelerator: pass power_w for energy/CO2"
        return out


def hardware(
    gpu: str,
    count: int = 1,
    *,
    mfu: float = DEFAULT_MFU,
    price: float | None = None,
    pue: float = DEFAULT_PUE,
    grid: float = DEFAULT_GRID_KG_PER_KWH,
    power_w: float | None = None,
) -> Hardware:
    """Hardware from a catalogue name (`lmscale plan --gpus` lists them)."""
    return Hardware(get_accelerator(gpu), count, mfu, price, pue, grid, power_w)


@dataclass(frozen=True)
class Budget:
    """A compute budget in FLOPs, and the hardware time it stands for when given as such."""

    flops: float
    hardware: Hardware | None = None
    hours: float | None = None

    def costs(self) -> Costs | None:
        if self.hardware is None or self.hours is None:
            return None
        return self.hardware.costs(self.hours)

    def assumptions(self) -> dict[str, Any]:
        out: dict[str, Any] = {"flops": self.flops, "training_flops_rule": "C = 6 N D (Kaplan et al. 2020)"}
        if self.hardware is not None:
            out["hardware"] = self.hardware.assumptions()
            out["flops_rule"] = "peak x MFU x count x hours x 3600"
        return out


def make_budget(flops: float | None = None, hw: Hardware | None = None, hours: float | None = None) -> Budget:
    """Either a FLOP budget or hardware x hours (not both)."""
    if flops is not None and (hw is not None or hours is not None):
        raise InputError(
            "give the budget either as FLOPs or as accelerator time (gpu, count, hours), not both"
        )
    if flops is not None:
        return Budget(check_flops(flops))
    if hw is None or hours is None:
        raise InputError("no budget: give FLOPs, or an accelerator with a count and hours")
    return Budget(hw.flops_for_hours(hours), hw, float(hours))
