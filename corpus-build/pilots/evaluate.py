"""Score pilot stories: leak rate, and held-out (leave-2-topics-out, 3 folds) identification
from the words alone (tf-idf + logistic regression) and, with --acts, from the model's mean
activations (token 16 on) at six layers, nearest class mean. Prints multiples of chance.

Usage: .venv/bin/python corpus-build/pilots/evaluate.py OUTDIR/pilot-A.jsonl ... [--acts]
"""
import json, sys, random
import numpy as np, torch
torch.set_num_threads(2)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from emovec.corpus._filters import leaked
def load(p): return [json.loads(l) for l in open(p)]
def lexical(recs):
    topics = sorted({r["topic"] for r in recs}); accs = []
    for f in range(3):
        test = set(topics[2*f:2*f+2])
        tr = [r for r in recs if r["topic"] not in test]; te = [r for r in recs if r["topic"] in test]
        v = TfidfVectorizer(sublinear_tf=True); X = v.fit_transform([r["text"] for r in tr])
        clf = LogisticRegression(C=10, max_iter=3000).fit(X, [r["emotion"] for r in tr])
        accs.append(np.mean(clf.predict(v.transform([r["text"] for r in te])) == [r["emotion"] for r in te]))
    return float(np.mean(accs))
acts = "--acts" in sys.argv
if acts:
    import emovec
    from emovec import parse_sites
    from emovec.extract import capture_stream, RowMoments
    from emovec.extract._capture import Item
    be = emovec.load_backend("smollm2-135m-instruct")
    sites = parse_sites("6,10,14,18,22,26", be.n_layers)
for p in [a for a in sys.argv[1:] if not a.startswith("--")]:
    recs = load(p)
    for r in recs: r["leak"] = leaked(r["text"], r["emotion"]) is not None
    ok = [r for r in recs if not r["leak"]]
    E = len({r["emotion"] for r in recs})
    line = f"{p.split('/')[-1]:22s} n={len(recs)} leak={np.mean([r['leak'] for r in recs]):.2f} words={np.mean([len(r['text'].split()) for r in recs]):.0f} lexical(all)={lexical(recs)*E:.1f}x lexical(kept)={lexical(ok)*E:.1f}x"
    if acts:
        items = [Item(str(i), r["text"], r["emotion"]) for i, r in enumerate(ok)]
        X = {s: torch.zeros(len(ok), be.d_model) for s in sites}
        for group, cap in capture_stream(be, items, sites, RowMoments(16), max_tokens=160):
            for s in sites:
                X[s][[int(g.id) for g in group]] = cap[s][:, :-2]
        topics = sorted({r["topic"] for r in ok}); emos = sorted({r["emotion"] for r in ok})
        lab = torch.tensor([emos.index(r["emotion"]) for r in ok]); top = [r["topic"] for r in ok]
        res = []
        for s in sites:
            accs = []
            for f in range(3):
                te = torch.tensor([t in topics[2*f:2*f+2] for t in top])
                Xtr, Xte = X[s][~te], X[s][te]
                M = torch.stack([Xtr[lab[~te] == e].mean(0) for e in range(len(emos))]); g = M.mean(0)
                V = M - g; V = V / V.norm(dim=1, keepdim=True)
                accs.append(float((((Xte - Xtr.mean(0)) @ V.T).argmax(1) == lab[te]).float().mean()))
            res.append(f"{str(s).split('.')[-1]}:{np.mean(accs)*len(emos):.1f}x")
        line += " acts " + " ".join(res)
    print(line, flush=True)
