"""Train the byte-level BPE tokenizer of the tiny models on the shipped sample (run once).

The real StarCoder tokenizer cannot be downloaded everywhere; tiny models need a small, fixed,
offline tokenizer. It is trained deterministically on astraios/data/sample and saved as
astraios/models/tiny_tokenizer/tokenizer.json.
"""

import gzip
import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

ROOT = Path(__file__).resolve().parents[1] / "astraios"
VOCAB_SIZE = 2048
SPECIAL_TOKENS = ["<|endoftext|>"]

with gzip.open(ROOT / "data/sample/octopack_sample.jsonl.gz", "rt", encoding="utf-8") as handle:
    rows = [json.loads(line) for line in handle]
texts = [f"Question: {r['prompt']}\n\nAnswer: {r['completion']}" for r in rows]

tokenizer = Tokenizer(models.BPE())
tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tokenizer.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(
    vocab_size=VOCAB_SIZE,
    special_tokens=SPECIAL_TOKENS,
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    show_progress=False,
)
tokenizer.train_from_iterator(texts, trainer=trainer)
out = ROOT / "models/tiny_tokenizer/tokenizer.json"
out.parent.mkdir(parents=True, exist_ok=True)
tokenizer.save(str(out))
print(f"vocab {tokenizer.get_vocab_size()} -> {out}")
