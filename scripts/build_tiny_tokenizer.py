"""Train the byte-level BPE tokenizer of the tiny models on the shipped sample (run once).

The real StarCoder tokenizer cannot be downloaded everywhere; tiny models need a small, fixed,
offline tokenizer. It is trained deterministically on astraios/data/sample and saved as
astraios/models/tiny_tokenizer/tokenizer.json.
"""

import gzip
import json

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from astraios.data.instruction import SAMPLE_FILE, question
from astraios.models import tiny

with gzip.open(SAMPLE_FILE, "rt", encoding="utf-8") as handle:
    rows = [json.loads(line) for line in handle]
texts = [question(r["prompt"]) + r["completion"] for r in rows]

tokenizer = Tokenizer(models.BPE())
tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tokenizer.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(
    vocab_size=tiny.VOCAB_SIZE,
    special_tokens=[tiny.EOS],
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    show_progress=False,
)
tokenizer.train_from_iterator(texts, trainer=trainer)
out = tiny.TOKENIZER_FILE
out.parent.mkdir(parents=True, exist_ok=True)
tokenizer.save(str(out))
print(f"vocab {tokenizer.get_vocab_size()} -> {out}")
