"""The core never imports a framework."""

import subprocess
import sys

FRAMEWORKS = ("transformer_lens", "nnsight", "transformers")


def test_import_emovec_loads_no_framework():
    code = (
        "import sys, emovec, emovec.ops, emovec.models\n"
        f"print(','.join(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import emovec loaded: {out.stdout.strip()}"


def test_attach_plugins_import_no_framework():
    # Choosing an adapter must not import frameworks the model did not bring.
    code = (
        "import sys, torch, emovec\n"
        "try:\n    emovec.attach(torch.nn.Linear(2, 2))\nexcept TypeError:\n    pass\n"
        f"print(','.join(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"attach loaded: {out.stdout.strip()}"
