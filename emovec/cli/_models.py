"""`emovec models`: fetch, locate and list the models emovec ships."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="fetch, locate and list shipped models")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    fetch = actions.add_parser(
        "fetch", help="download and verify a shipped model, and cache its fp32 copy"
    )
    fetch.add_argument(
        "name", nargs="?", default=None, help="model name (default: the default model)"
    )
    fetch.set_defaults(func=run_fetch)
    listing = actions.add_parser("list", help="list shipped models and whether they are cached")
    listing.set_defaults(func=run_list)
    path = actions.add_parser("path", help="print the cache folder")
    path.set_defaults(func=lambda args: print(_cache()) or 0)


def _cache():
    from emovec.models import cache_dir

    return cache_dir()


def run_fetch(args: argparse.Namespace) -> int:
    from emovec._attach import plugin_hook
    from emovec.models import DEFAULT_MODEL, lookup

    name = args.name or DEFAULT_MODEL
    shipped = lookup(name)
    if shipped is None:
        raise ValueError(f"{name!r} is not a shipped model; see `emovec models list`.")
    prepare = plugin_hook("prepare_model")
    if prepare is None:
        raise ImportError("Fetching models needs the hf adapter: `pip install 'emovec[hf]'`.")
    folder = prepare(shipped.name)
    print(f"{shipped.name}: ready in {folder}")
    if shipped.licence_note:
        print(shipped.licence_note)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from emovec.models import SHIPPED
    from emovec.models._fetch import gguf_path

    for model in SHIPPED.values():
        state = "cached" if gguf_path(model).exists() else "not fetched"
        print(f"{model.name:28s} {model.hf_id:40s} {model.licence:12s} {state}")
    return 0
