"""The remote-safe trace bodies: the only emovec code whose source travels to NDIF.

nnsight ships the source of a `with` block and the values it reads; the server runs that
source under its whitelist. So each block below reads only the model's envoys, tensors,
numbers, tuples and lists (built client-side by `_compile`), and does only torch
arithmetic: no emovec call, no emovec object, nothing imported. `_preflight.scan_tracer`
checks exactly this before every submission.

The site loop exists twice (one forward, one generation step) on purpose: a helper function
would be shipped by reference to a module the server does not have. Both copies are checked
against the local adapter to 1e-5 in tests/nnsight_remote.

Site tuples are `(layer, is_resid_post, edits, reduce)`; edits are
`(basis, scale, offset, mask, when)` and apply `x + ((x @ basis.T) * scale + offset) @ basis`,
which is `emovec.Edit.apply`; reduce kinds are `_compile.KEEP` (1), `GATHER` (2),
`MEAN` (3), `ROW_MOMENTS` (4), `TOKEN_MOMENTS` (5), `WEIGHTS` (6).

The server compiles a nested `with` (the traces of a session, the invokes of a generation)
from the source it was sent, cached by file name for the life of its process. Two different
blocks from one file name (two functions here, or this file in two emovec versions) could
then read each other's source, so each body runs under a file name unique to its function
and to this file's content (`_stamp`).
"""

import hashlib
import linecache
import types
from collections.abc import Callable
from typing import Any

import torch


def run_forwards(model: Any, layers: Any, requests: list, backend: Any) -> list:
    """One remote request: a session holding one traced forward per entry of `requests`.

    Args:
        model: The nnsight model (travels as its deployed id).
        layers: Its decoder-layer envoys.
        requests: `(inputs, sites, want_logits)` per forward: `inputs` a dict of token tensors,
            `sites` compiled site tuples, `want_logits` 1 to send the logits back, 2 for the
            last position's only, 0 for none (a capture stops after its last site instead).
        backend: The nnsight backend that preflights and submits the block.

    Returns:
        Per forward, `(reductions per site, or None where a site only edits; logits or None)`.
    """
    with model.session(backend=backend):
        results = list().save()  # type: ignore[attr-defined]
        with torch.no_grad():
            for inputs, sites, want_logits in requests:
                with model.trace(inputs, use_cache=False) as tracer:
                    reduced = list()
                    for layer, post, edits, reduce in sites:
                        envoy = layers[layer]
                        x = envoy.output if post else envoy.input
                        for basis, scale, offset, mask, _when in edits:
                            basis = basis.to(device=x.device, dtype=x.dtype)
                            coeffs = offset.to(device=x.device, dtype=x.dtype)
                            if scale is not None:
                                scale = scale.to(device=x.device, dtype=x.dtype)
                                coeffs = (x @ basis.T) * scale + coeffs
                            delta = coeffs @ basis
                            if mask is not None:
                                keep = mask[:, -x.shape[1] :].to(device=x.device, dtype=x.dtype)
                                delta = delta * keep[..., None]
                            x = x + delta
                        if edits and post:
                            envoy.output = x
                        elif edits:
                            envoy.input = x
                        if reduce is None:
                            reduced.append(None)
                            continue
                        kind, a, b = reduce
                        h = x.detach()
                        if kind == 1:
                            reduced.append(h)
                        elif kind == 2:
                            reduced.append(h[a.to(h.device), b.to(h.device)])
                        elif kind == 3:
                            w = a.to(device=h.device, dtype=h.dtype)
                            total = torch.einsum("bpd,bp->bd", h, w)
                            reduced.append(total / w.sum(1, keepdim=True).clamp(min=1))
                        elif kind == 4:
                            h = h.float()
                            w = a.to(device=h.device, dtype=h.dtype)
                            count = w.sum(1)
                            mean = torch.einsum("bpd,bp->bd", h, w) / count.clamp(min=1)[:, None]
                            norms = (h.norm(dim=-1) * w).sum(1)
                            reduced.append(torch.cat([mean, norms[:, None], count[:, None]], dim=1))
                        elif kind == 6:
                            w = a.to(device=h.device, dtype=h.dtype)
                            pattern = "bpd,bp->bd" if w.dim() == 2 else "bpd,bsp->bsd"
                            total = torch.einsum(pattern, h, w)
                            reduced.append(total / w.sum(-1, keepdim=True).clamp(min=1))
                        else:
                            rows = h.float()[a.to(h.device)]
                            tail = torch.zeros(2, h.shape[-1], dtype=rows.dtype, device=rows.device)
                            tail[1, 0] = rows.shape[0]
                            tail[1, 1] = rows.norm(dim=-1).sum()
                            tail[0] = rows.mean(0)
                            centred = rows - tail[0]
                            reduced.append(torch.cat([centred.mT @ centred, tail], dim=0))
                    if want_logits:
                        logits = model.output.logits
                        if want_logits == 2:
                            logits = logits[:, -1:]
                    else:
                        logits = None
                        tracer.stop()
                results.append((reduced, logits))
    return results


def generate_steps(
    model: Any,
    layers: Any,
    inputs: dict,
    sites: list,
    n_steps: int,
    options: dict,
    seed: Any,
    backend: Any,
) -> tuple:
    """One remote request: a generation with static edits and per-step activations.

    Args:
        model, layers, backend: As for `run_forwards`.
        inputs: Left-padded `input_ids` and `attention_mask`.
        sites: Compiled `(layer, is_resid_post, edits, capture)` tuples; edits carry `when`
            (0 every forward, 1 the prompt forward, 2 decode steps).
        n_steps: `max_new_tokens`; one forward per step.
        options: Keyword arguments for the model's `generate` (sampling, pad and EOS ids).
        seed: Seed for sampling on the server, or None.

    Returns:
        `(ids, steps)`: prompt plus generated ids, and per forward the captured activations
        (`[batch, pos, d_model]` per captured site, in site order).
    """
    with model.generate(max_new_tokens=n_steps, backend=backend, **options) as tracer:
        with tracer.invoke(inputs):
            if seed is not None:
                torch.manual_seed(seed)
            steps = list().save()  # type: ignore[attr-defined]
            for step in tracer.iter[:n_steps]:
                seen = list()
                for layer, post, edits, capture in sites:
                    envoy = layers[layer]
                    x = envoy.output if post else envoy.input
                    changed = False
                    for basis, scale, offset, mask, when in edits:
                        if when == 1 and step > 0 or when == 2 and step == 0:
                            continue
                        basis = basis.to(device=x.device, dtype=x.dtype)
                        coeffs = offset.to(device=x.device, dtype=x.dtype)
                        if scale is not None:
                            scale = scale.to(device=x.device, dtype=x.dtype)
                            coeffs = (x @ basis.T) * scale + coeffs
                        delta = coeffs @ basis
                        if mask is not None:
                            keep = mask[:, -x.shape[1] :].to(device=x.device, dtype=x.dtype)
                            delta = delta * keep[..., None]
                        x = x + delta
                        changed = True
                    if changed and post:
                        envoy.output = x
                    elif changed:
                        envoy.input = x
                    if capture:
                        seen.append(x.detach())
                steps.append(seen)
        with tracer.invoke():
            ids = tracer.result.save()
    return ids, steps


def _stamp(func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` with its code's file name made unique to this file's content (see above)."""
    path = func.__code__.co_filename
    lines = linecache.getlines(path)
    digest = hashlib.sha256("".join(lines).encode()).hexdigest()[:12]
    name = f"{path} (emovec {digest}, {func.__name__})"
    entry = (sum(map(len, lines)), None, lines, name)  # no mtime: linecache never evicts it

    def rename(code: types.CodeType) -> types.CodeType:
        consts = tuple(rename(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
        return code.replace(co_filename=name, co_consts=consts)

    stamped = types.FunctionType(
        rename(func.__code__), func.__globals__, func.__name__, func.__defaults__, func.__closure__
    )

    def call(*args: Any, **kwargs: Any) -> Any:
        linecache.cache.setdefault(name, entry)  # nnsight reads the block's source from here
        return stamped(*args, **kwargs)

    call.__name__, call.__doc__, call.__wrapped__ = func.__name__, func.__doc__, func  # type: ignore[attr-defined]
    return call


run_forwards = _stamp(run_forwards)
generate_steps = _stamp(generate_steps)
