"""Load models as astraios does while DeepSpeed's ZeRO-3 config is registered with transformers (as
accelerate registers it under ZeRO-3, whatever `zero3_init_flag` says), in a process of its own
started by torchrun: `torchrun --standalone --nproc_per_node 1 tests/zero3_build.py SAVED OUT`.

SAVED is a tiny model saved to disk (loaded with `from_pretrained`, as a real model is); OUT gets, as
JSON: whether the tiny model built under ZeRO-3 equals the one built without it (and is left whole),
whether the saved one was loaded partitioned, the parameter counts of both ways, and whether the
registration is still in place afterwards.
"""

from __future__ import annotations

import json
import os
import sys


def main(saved: str, out_path: str) -> None:
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import deepspeed
    import torch
    from transformers.integrations import HfDeepSpeedConfig, is_deepspeed_zero3_enabled

    from astraios import methods, models

    deepspeed.init_distributed(dist_backend="gloo")
    plain_tiny, plain_saved = models.load_model("tiny-gptbigcode-xs"), models.load_model(saved)
    registered = HfDeepSpeedConfig({"train_micro_batch_size_per_gpu": 1, "zero_optimization": {"stage": 3}})
    tiny, loaded = models.load_model("tiny-gptbigcode-xs"), models.load_model(saved)
    expected = plain_tiny.state_dict()
    result = {
        "tiny_whole": not any(hasattr(p, "ds_id") for p in tiny.parameters()),
        "tiny_differs": [name for name, tensor in tiny.state_dict().items() if not torch.equal(tensor, expected[name])],
        "saved_partitioned": all(hasattr(p, "ds_id") for p in loaded.parameters()),
        "counts": [methods.count_parameters(m).total for m in (plain_tiny, tiny, plain_saved, loaded)],
        "still_registered": is_deepspeed_zero3_enabled(),
    }
    del registered
    with open(out_path, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main(*sys.argv[1:])
