"""Model FLOPs utilisation (MFU): the FLOPs a training step needs over what the GPU could do.

MFU = tokens/s x training FLOPs per token / the GPU's peak dense bf16 FLOPs (PaLM, Appendix B).

FLOPs per token of a decoder with N matmul parameters, L layers of width d, context T:
- full fine-tuning: 6N + 12 L d T (forward 2N; backward 2N for activation gradients, 2N for weight
  gradients; 12 L d T for the attention scores and the weighted sum, forward and backward, with
  no discount for the causal mask, as PaLM);
- a parameter-efficient method: 4 N_frozen + 6 N_trainable + 12 L d T: frozen weights need no
  weight gradient, but gradients still flow through them to the adapters below. It is an upper
  bound: autograd skips activation gradients below the first trainable module (under 1% for LoRA
  and about 2% for AdapterP on a 24-layer model).
N counts every parameter but the position embeddings (a lookup); a tied input embedding is the
output projection's matmul. Tested against torch's FlopCounterMode on a StarCoder-shaped model.
An 8-bit base is still measured against the bf16 peak (there is no int8 peak for LLM.int8 matmuls).

Peaks are NVIDIA's dense (not 2:4 sparse) bf16 tensor-core figures from each GPU's datasheet,
matched on the name torch reports (`torch.cuda.get_device_name`); `--peak-tflops` overrides them.
"""

from __future__ import annotations

import re

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


def training_flops_per_token(matmul_parameters: int, trainable_parameters: int, layers: int, width: int,
                             context: int, *, full: bool) -> float:
    """FLOPs of one training token (forward and backward) for the formula above."""
    attention = 12 * layers * width * context
    if full:
        return 6 * matmul_parameters + attention
    frozen = matmul_parameters - trainable_parameters
    return 4 * frozen + 6 * trainable_parameters + attention


def model_shape(config) -> tuple[int, int, int]:
    """(layers, width, position-embedding parameters) of a transformers config (GPTBigCode or Llama)."""
    layers = getattr(config, "n_layer", None) or config.num_hidden_layers
    width = getattr(config, "n_embd", None) or config.hidden_size
    # Learned absolute positions (GPTBigCode's wpe) are a lookup; rotary models (Llama) have none.
    positions = getattr(config, "n_positions", 0) * width if getattr(config, "model_type", "") == "gpt_bigcode" else 0
    return layers, width, positions


def mfu(tokens_per_second: float, flops_per_token: float, peak_tflops: float) -> float:
    """Model FLOPs utilisation of one GPU, a fraction."""
    return tokens_per_second * flops_per_token / (peak_tflops * 1e12)
