"""`emovec extract --kind speaker|deflection`: vectors from the dialogue sets."""

import argparse
import time
from pathlib import Path
from typing import Any

from emovec._files import write_atomic, write_json


def run_dialogue_kind(args: argparse.Namespace) -> int:
    import emovec
    from emovec.corpus import load_dialogues

    out = Path(args.out)
    if out.suffix == ".safetensors":
        raise ValueError(f"--kind {args.kind} writes several files: give --out a folder.")
    targets = {
        "speaker": ["present_speaker.safetensors", "other_speaker.safetensors", "speaker.json"],
        "deflection": ["deflection.safetensors", "deflection.json"],
    }[args.kind]
    if any((out / t).exists() for t in targets) and not args.force:
        raise ValueError(
            f"{out} already holds {args.kind} vectors: pass --force to overwrite them."
        )
    story = None
    if args.kind == "deflection":
        if args.story_vectors is None:
            raise ValueError(
                "--kind deflection needs --story-vectors BUNDLE (story vectors of the same model,"
                " e.g. runs/replicate/vectors/emotion_vectors.safetensors): their subspace is"
                " removed from the deflection vectors."
            )
        from emovec.vectors import EmotionVectors

        from ._options import bundle_path

        story = EmotionVectors.load(bundle_path(args.story_vectors))
    dialogues = load_dialogues(args.kind, args.dialogues)
    neutral = None
    if args.neutral_variance > 0:
        from ._extract_corpus import open_corpus

        neutral = list(open_corpus(args.corpus, per_emotion=None, max_neutral=args.max_neutral)[1])
        if not neutral:
            raise ValueError(
                "No neutral texts for denoising in the corpus: pass --neutral-variance 0 or a"
                " corpus with neutral dialogues."
            )
    started = time.perf_counter()
    backend = emovec.load_backend(args.model, adapter=args.adapter, dtype=args.dtype)
    if story is not None:
        story.check(backend)
    out.mkdir(parents=True, exist_ok=True)
    common: dict[str, Any] = dict(
        start=4 if args.start_token is None else args.start_token,
        neutral_variance=args.neutral_variance,
        max_tokens=args.max_tokens,
        progress=not args.quiet,
    )
    if args.kind == "speaker":
        from emovec.analysis import speaker_report
        from emovec.extract import speaker_vectors

        sv = speaker_vectors(backend, dialogues, neutral, sites=args.sites, **common)
        sv.present.save(out / "present_speaker.safetensors")
        sv.other.save(out / "other_speaker.safetensors")
        report = speaker_report(sv)
        write_json(out / "speaker.json", report.as_dict())
        write_atomic(out / "speaker.txt", (report.table() + "\n").encode())
        print(report.table())
        print(f"wrote {out}/present_speaker.safetensors, other_speaker.safetensors, speaker.txt")
    else:
        from emovec.extract import deflection_vectors

        assert story is not None
        sites = None if args.sites == "all" else args.sites
        dv = deflection_vectors(
            backend, dialogues, story, neutral, sites=sites,
            story_variance=args.story_variance, **common,
        )  # fmt: skip
        dv.vectors.save(out / "deflection.safetensors")
        summary = {"surviving_norm": dv.surviving, "story_components": dv.story_components}
        write_json(out / "deflection.json", summary)
        lines = _deflection_table(dv, args.story_variance)
        write_atomic(out / "deflection.txt", ("\n".join(lines) + "\n").encode())
        print("\n".join(lines))
        print(f"wrote {out}/deflection.safetensors, deflection.txt")
        if args.denial_strength > 0:
            from emovec.interventions import denial_check

            check = denial_check(backend, dv.vectors, story, strength=args.denial_strength)
            write_json(out / "denial.json", check.as_dict())
            write_atomic(out / "denial.txt", (check.table() + "\n").encode())
            print(check.table())
            print(f"wrote {out}/denial.txt")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


def _deflection_table(dv: Any, story_variance: float) -> list[str]:
    """The surviving-norm table of deflection vectors, one row per site, with its legend."""
    lines = [f"{'site':16s} {'PCs':>4s} " + " ".join(f"{e[:9]:>9s}" for e in dv.vectors.emotions)]
    for site, values in dv.surviving.items():
        lines.append(
            f"{site:16s} {dv.story_components[site]:4d} "
            + " ".join(f"{values[e]:9.3f}" for e in dv.vectors.emotions)
        )
    d = dv.vectors.d_model
    lines.append(
        "fraction of each deflection vector's norm left after removing the story subspace"
        f" (PCs explaining {story_variance:g} of the story vectors' variance; the paper:"
        " about 0.8). For scale: a random direction keeps sqrt(1 - PCs/d_model) on average,"
        f" {(1 - min(dv.story_components.values()) / d) ** 0.5:.2f} to"
        f" {(1 - max(dv.story_components.values()) / d) ** 0.5:.2f} here."
    )
    return lines
