"""Model FLOPs utilisation (MFU): the FLOPs a training step needs over what the GPU could do.

MFU = tokens/s x training FLOPs per token / the GPU's peak dense bf16 FLOPs (PaLM, Appendix B).

Training FLOPs per token: `astraios.methods.accounting.training_flops_per_token` (the grid's dry
run costs its cells with the same formula). An 8-bit base is still measured against the bf16 peak
(there is no int8 peak for LLM.int8 matmuls).

Peaks are NVIDIA's dense (not 2:4 sparse) bf16 tensor-core figures from each GPU's datasheet,
matched on the name torch reports (`torch.cuda.get_device_name`); `--peak-tflops` overrides them.
"""

from __future__ import annotations

import re

from astraios.methods.accounting import model_shape, training_flops_per_token  # noqa: F401 (this module's API)

# (pattern on the device name, dense bf16 TFLOPS); the first match wins, so variants come first.
PEAK_BF16_TFLOPS: list[tuple[str, float]] = [
    (r"\bGB200\b", 2500.0),
    (r"\bB200\b", 2250.0),
    (r"\bH200 NVL\b", 835.5),
    (r"\bH200\b", 989.4),            # SXM
    (r"\bGH200\b", 989.4),
    (r"\bH100 NVL\b", 835.5),
    (r"\bH100 PCIe\b", 756.5),
    (r"\bH100\b", 989.4),            # SXM5 ("NVIDIA H100 80GB HBM3")
    (r"\bH800 PCIe\b", 756.5),
    (r"\bH800\b", 989.4),
    (r"\bA100\b", 312.0),            # SXM4 and PCIe, 40 and 80 GB
    (r"\bA800\b", 312.0),
    (r"\bL40S\b", 362.05),
    (r"\bL40\b", 181.05),
    (r"\bL4\b", 121.0),
    (r"\bA10\b", 125.0),             # not A10G, whose clocks differ: pass --peak-tflops
    (r"\bA30\b", 165.0),
]


def peak_bf16_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of a GPU by its name, or None when it is not in the table."""
    for pattern, tflops in PEAK_BF16_TFLOPS:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return tflops
    return None


def mfu(tokens_per_second: float, flops_per_token: float, peak_tflops: float) -> float:
    """Model FLOPs utilisation of one GPU, a fraction."""
    return tokens_per_second * flops_per_token / (peak_tflops * 1e12)
