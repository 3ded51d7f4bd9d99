"""Prompt pilots for the story corpus (24 emotions x 6 topics each; see ../README.md).

Usage: .venv/bin/python corpus-build/pilots/generate.py A,B,C,Y OUTDIR, then ... R OUTDIR
A = the shipped prompt (story-v1); B = with a one-shot example story; C = asks for the feeling
to be unmistakable; Y = C with every spelling of the emotion word banned while sampling;
R = C's stories with the sentences naming the word cut out.
"""
import json, sys, time
import torch
torch.set_num_threads(2)
import emovec
from emovec.corpus._generate import _token_batch, tidy, _banned
from emovec.corpus._prompts import story_prompt, _PERSON

EMOS = "happy sad afraid angry disgusted surprised calm desperate proud ashamed guilty jealous lonely grateful bored excited nervous relieved hopeful frustrated embarrassed content hostile blissful".split()
TOPICS = [l.strip() for l in open("emovec/data/topics.txt") if l.strip()][:6]
EX_NEG = ("My palms were damp before I even reached the door. I read the note again, although I already"
  " knew every line, and my stomach turned over. What if they had found the mistake? I rehearsed an"
  " answer under my breath, lost it halfway, and started again. When the handle finally moved, I jumped.")
EX_POS = ("Maya read the message twice, then a third time, and laughed out loud in the empty kitchen. She"
  " spun round, nearly knocking over the kettle, and grabbed her phone to call her sister. Everything"
  " she had worked for all year had paid off. She could not stop grinning; she wanted to run down the"
  " street and tell every stranger she passed.")
def prompt(strategy, emotion, topic, person):
    p = _PERSON[person]
    if strategy == "Y":  # C's wording with the emotion word banned at decoding time
        return prompt("C", emotion, topic, person)
    if strategy == "A":
        return story_prompt(emotion, topic, person=person)
    if strategy == "B":
        ex, what = (EX_POS, "joy") if emotion in ("nervous", "afraid", "desperate") else (EX_NEG, "nervousness") if emotion in ("happy", "excited", "blissful") else ((EX_NEG, "nervousness") if TOPICS.index(topic) % 2 else (EX_POS, "joy"))
        return (f"Here is an example of a story that shows {what} without ever naming it:\n\n{ex}\n\n"
                f"Now write a new story of about 100 words in which a character feels {emotion}. The situation: {topic}.\n{p}\n"
                f"Make the feeling unmistakable from what the character thinks, says and does, and how their body reacts,"
                f' but never use the word "{emotion}". Write only the story.')
    if strategy == "C":
        return (f"Write a short story of about 100 words. The main character feels intensely {emotion} because of this situation: {topic}.\n{p}\n"
                f"Describe what the character thinks about the situation, what they do and say, and how their body feels,"
                f' so that a reader can tell exactly which emotion it is. Do not use the word "{emotion}".')
def redact(out_dir):
    """R: pilot C's stories with every sentence that names the emotion cut (kept if >= 30 words)."""
    import re
    from emovec.corpus._filters import leaked
    with open(f"{out_dir}/pilot-R.jsonl", "w") as f:
        for line in open(f"{out_dir}/pilot-C.jsonl"):
            r = json.loads(line)
            kept = [x for x in re.split(r"(?<=[.!?])\s+", r["text"]) if leaked(x, r["emotion"]) is None]
            if len(" ".join(kept).split()) >= 30:
                f.write(json.dumps(dict(r, text=" ".join(kept))) + "\n")
if sys.argv[1] == "R":
    redact(sys.argv[2]); sys.exit()
be = emovec.load_backend("smollm2-135m-instruct", adapter="hf", attn_implementation="emovec_grouped")
for strategy in sys.argv[1].split(","):
    jobs = [(e, t, ("first", "third")[(i + j) % 2]) for i, e in enumerate(EMOS) for j, t in enumerate(TOPICS)]
    t0 = time.time(); out = []
    for b in range(0, len(jobs), 72):
        chunk = jobs[b:b + 72]
        g = be.generate(_token_batch(be, [prompt(strategy, *j) for j in chunk]), max_new_tokens=112, temperature=0.8, top_p=0.95, seed=b, ban=[_banned(be.tokenizer, j[0]) for j in chunk] if strategy == "Y" else None)
        for j, text, st in zip(chunk, g.texts, g.stopped):
            out.append({"emotion": j[0], "topic": j[1], "person": j[2], "text": tidy(text, st)})
    with open(f"{sys.argv[2]}/pilot-{strategy}.jsonl", "w") as f:
        for r in out: f.write(json.dumps(r) + "\n")
    print(strategy, f"{time.time()-t0:.0f}s", flush=True)
