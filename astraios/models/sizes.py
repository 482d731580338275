"""Published code models known by name, so parameter accounting and grid plans need no download.

Each entry is the architecture of one published model: its transformers `model_type` and the
`config.json` fields that set a parameter's shape (width, layers, heads, key/value heads, head
size, MLP width, vocabulary, tied embeddings, biases). Fields that set no shape (RoPE, context
length, Granite's multipliers, soft-capping) keep the transformers defaults: these configs are
for counting and planning on the meta device. Training and evaluation load the weights, and with
them the real config, from `hub_id`.

Families (the Hub model each name stands for is in `hub_id`):
- gpt_bigcode: StarCoderBase 1B/3B/7B/15.5B (the study), Granite-Code 20B/34B;
- starcoder2: StarCoder2 3B/7B/15B;
- llama: CodeLlama 7B/13B/34B/70B, DeepSeek-Coder 1.3B/6.7B/33B, Granite-Code 3B/8B;
- mistral: Codestral 22B; qwen2: Qwen2.5-Coder 0.5B-32B; qwen3: Qwen3 0.6B-32B;
- gemma: CodeGemma 2B/7B; gemma2: Gemma 2 2B/9B/27B; phi3: Phi-3 mini/medium, Phi-4, Phi-4-mini;
- granite: Granite 3.1 2B/8B;
- qwen3_moe: Qwen3-Coder 30B-A3B, a mixture of experts (its counts for full and P-Tuning; the
  methods with targets refuse it, see `astraios.methods.targets`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PublishedModel:
    hub_id: str
    model_type: str
    shape: dict = field(default_factory=dict)

    def config(self):
        from transformers import AutoConfig

        return AutoConfig.for_model(self.model_type, **self.shape)


def _starcoder(hub_id: str, width: int, layers: int, heads: int) -> PublishedModel:
    """GPTBigCode as StarCoderBase and Granite-Code 20B/34B: multi-query attention, 4x MLP, tied head."""
    return PublishedModel(hub_id, "gpt_bigcode", {
        "vocab_size": 49152, "n_positions": 8192, "n_embd": width, "n_layer": layers, "n_head": heads,
        "n_inner": 4 * width, "multi_query": True, "activation_function": "gelu_pytorch_tanh",
        "bos_token_id": 0, "eos_token_id": 0,
    })


def _decoder(hub_id: str, model_type: str, width: int, layers: int, heads: int, kv_heads: int, mlp: int,
             vocab: int, tied: bool, **extra) -> PublishedModel:
    """A Llama-style decoder (RoPE, grouped-query attention, gated or plain MLP)."""
    return PublishedModel(hub_id, model_type, {
        "hidden_size": width, "num_hidden_layers": layers, "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "intermediate_size": mlp, "vocab_size": vocab,
        "tie_word_embeddings": tied, "head_dim": width // heads, **extra,
        "bos_token_id": None, "eos_token_id": None, "pad_token_id": None,  # no token ids: nothing is tokenised here
    })


PUBLISHED: dict[str, PublishedModel] = {
    # The study's models.
    "starcoderbase-1b": _starcoder("bigcode/starcoderbase-1b", 2048, 24, 16),
    "starcoderbase-3b": _starcoder("bigcode/starcoderbase-3b", 2816, 36, 22),
    "starcoderbase-7b": _starcoder("bigcode/starcoderbase-7b", 4096, 42, 32),
    "starcoderbase": _starcoder("bigcode/starcoderbase", 6144, 40, 48),
    # StarCoder2: LayerNorm and biases everywhere, plain GELU MLP (c_fc, c_proj), tied head.
    "starcoder2-3b": _decoder("bigcode/starcoder2-3b", "starcoder2", 3072, 30, 24, 2, 12288, 49152, True),
    "starcoder2-7b": _decoder("bigcode/starcoder2-7b", "starcoder2", 4608, 32, 36, 4, 18432, 49152, True),
    "starcoder2-15b": _decoder("bigcode/starcoder2-15b", "starcoder2", 6144, 40, 48, 4, 24576, 49152, True),
    # Qwen2.5-Coder: biases on q, k, v; the three small ones tie the head.
    "qwen2.5-coder-0.5b": _decoder("Qwen/Qwen2.5-Coder-0.5B", "qwen2", 896, 24, 14, 2, 4864, 151936, True),
    "qwen2.5-coder-1.5b": _decoder("Qwen/Qwen2.5-Coder-1.5B", "qwen2", 1536, 28, 12, 2, 8960, 151936, True),
    "qwen2.5-coder-3b": _decoder("Qwen/Qwen2.5-Coder-3B", "qwen2", 2048, 36, 16, 2, 11008, 151936, True),
    "qwen2.5-coder-7b": _decoder("Qwen/Qwen2.5-Coder-7B", "qwen2", 3584, 28, 28, 4, 18944, 152064, False),
    "qwen2.5-coder-14b": _decoder("Qwen/Qwen2.5-Coder-14B", "qwen2", 5120, 48, 40, 8, 13824, 152064, False),
    "qwen2.5-coder-32b": _decoder("Qwen/Qwen2.5-Coder-32B", "qwen2", 5120, 64, 40, 8, 27648, 152064, False),
    # Qwen3: 128-wide heads whatever the width, RMSNorm on queries and keys, no attention biases.
    "qwen3-0.6b": _decoder("Qwen/Qwen3-0.6B-Base", "qwen3", 1024, 28, 16, 8, 3072, 151936, True, head_dim=128),
    "qwen3-1.7b": _decoder("Qwen/Qwen3-1.7B-Base", "qwen3", 2048, 28, 16, 8, 6144, 151936, True, head_dim=128),
    "qwen3-4b": _decoder("Qwen/Qwen3-4B-Base", "qwen3", 2560, 36, 32, 8, 9728, 151936, True, head_dim=128),
    "qwen3-8b": _decoder("Qwen/Qwen3-8B-Base", "qwen3", 4096, 36, 32, 8, 12288, 151936, False, head_dim=128),
    "qwen3-14b": _decoder("Qwen/Qwen3-14B-Base", "qwen3", 5120, 40, 40, 8, 17408, 151936, False, head_dim=128),
    "qwen3-32b": _decoder("Qwen/Qwen3-32B", "qwen3", 5120, 64, 64, 8, 25600, 151936, False, head_dim=128),
    # DeepSeek-Coder 1.x and CodeLlama are Llama.
    "deepseek-coder-1.3b": _decoder("deepseek-ai/deepseek-coder-1.3b-base", "llama", 2048, 24, 16, 16, 5504, 32256, False),
    "deepseek-coder-6.7b": _decoder("deepseek-ai/deepseek-coder-6.7b-base", "llama", 4096, 32, 32, 32, 11008, 32256, False),
    "deepseek-coder-33b": _decoder("deepseek-ai/deepseek-coder-33b-base", "llama", 7168, 62, 56, 8, 19200, 32256, False),
    "codellama-7b": _decoder("codellama/CodeLlama-7b-hf", "llama", 4096, 32, 32, 32, 11008, 32016, False),
    "codellama-13b": _decoder("codellama/CodeLlama-13b-hf", "llama", 5120, 40, 40, 40, 13824, 32016, False),
    "codellama-34b": _decoder("codellama/CodeLlama-34b-hf", "llama", 8192, 48, 64, 8, 22016, 32000, False),
    "codellama-70b": _decoder("codellama/CodeLlama-70b-hf", "llama", 8192, 80, 64, 8, 28672, 32016, False),
    "codestral-22b": _decoder("mistralai/Codestral-22B-v0.1", "mistral", 6144, 56, 48, 8, 16384, 32768, False),
    # CodeGemma (Gemma 1): 256-wide heads, tied head; Gemma 2 adds norms around the MLP.
    "codegemma-2b": _decoder("google/codegemma-2b", "gemma", 2048, 18, 8, 1, 16384, 256000, True, head_dim=256),
    "codegemma-7b": _decoder("google/codegemma-7b", "gemma", 3072, 28, 16, 16, 24576, 256000, True, head_dim=256),
    "gemma-2-2b": _decoder("google/gemma-2-2b", "gemma2", 2304, 26, 8, 4, 9216, 256000, True, head_dim=256),
    "gemma-2-9b": _decoder("google/gemma-2-9b", "gemma2", 3584, 42, 16, 8, 14336, 256000, True, head_dim=256),
    "gemma-2-27b": _decoder("google/gemma-2-27b", "gemma2", 4608, 46, 32, 16, 36864, 256000, True, head_dim=128),
    # Phi-3 and Phi-4: fused qkv_proj and gate_up_proj.
    "phi-3-mini": _decoder("microsoft/Phi-3-mini-4k-instruct", "phi3", 3072, 32, 32, 32, 8192, 32064, False),
    "phi-3-medium": _decoder("microsoft/Phi-3-medium-4k-instruct", "phi3", 5120, 40, 40, 10, 17920, 32064, False),
    "phi-4": _decoder("microsoft/phi-4", "phi3", 5120, 40, 40, 10, 17920, 100352, False),
    "phi-4-mini": _decoder("microsoft/Phi-4-mini-instruct", "phi3", 3072, 32, 24, 8, 8192, 200064, True),
    # Granite-Code: 3B and 8B are Llama with biases in attention and MLP; 20B and 34B are GPTBigCode.
    "granite-3b-code": _decoder("ibm-granite/granite-3b-code-base-2k", "llama", 2560, 32, 32, 32, 10240, 49152, True,
                                attention_bias=True, mlp_bias=True),
    "granite-8b-code": _decoder("ibm-granite/granite-8b-code-base-4k", "llama", 4096, 36, 32, 8, 14336, 49152, True,
                                attention_bias=True, mlp_bias=True),
    "granite-20b-code": _starcoder("ibm-granite/granite-20b-code-base-8k", 6144, 52, 48),
    "granite-34b-code": _starcoder("ibm-granite/granite-34b-code-base-8k", 6144, 88, 48),
    # Granite 3.1 (its own model_type: Llama's layers with scaling multipliers).
    "granite-3.1-2b": _decoder("ibm-granite/granite-3.1-2b-base", "granite", 2048, 40, 32, 8, 8192, 49155, True),
    "granite-3.1-8b": _decoder("ibm-granite/granite-3.1-8b-base", "granite", 4096, 40, 32, 8, 12800, 49155, True),
    # A mixture of experts: 128 experts of MLP width 768, 8 routed per token, in every layer.
    "qwen3-coder-30b-a3b": _decoder("Qwen/Qwen3-Coder-30B-A3B-Instruct", "qwen3_moe", 2048, 48, 32, 4, 6144, 151936,
                                    False, head_dim=128, moe_intermediate_size=768, num_experts=128,
                                    num_experts_per_tok=8),
}
# The study calls the 15.5B model "15B" or "16B".
PUBLISHED["starcoderbase-15b"] = PUBLISHED["starcoderbase"]
