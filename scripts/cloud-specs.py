#!/usr/bin/env python3
"""Regenerate (or check) the vendored API specs the mock clouds validate requests with.

Each mock that has a machine-readable source ships a ``specgen`` module with
``SOURCES`` (the pinned packages it reads) and ``generate(cache) -> {file name:
ApiSpec}``.  The wheels are fetched once with ``pip download --no-deps`` into
``${LBPROVIDER_SPEC_CACHE:-${XDG_CACHE_HOME:-~/.cache}/lbprovider/cloud-specs}``
(never installed).

    scripts/cloud-specs.py            rewrite providers/*/mock/spec/*.json
    scripts/cloud-specs.py --check    exit 1 when a vendored file differs
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from lbprovider.mockkit.spec import dump_spec

ROOT = Path(__file__).resolve().parent.parent
CLOUDS = ("lbprovider_tencent", "lbprovider_alibaba")


def cache_dir() -> Path:
    """Where the pinned wheels are kept between runs."""
    explicit = os.environ.get("LBPROVIDER_SPEC_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lbprovider" / "cloud-specs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, don't write")
    args = parser.parse_args()
    stale: list[str] = []
    for package in CLOUDS:
        specgen = importlib.import_module(f"{package}.mock.specgen")
        out_dir = ROOT / "providers" / package / "mock" / "spec"
        generated = specgen.generate(cache_dir())
        for name, spec in generated.items():
            path = out_dir / name
            text = dump_spec(spec)
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if current == text:
                continue
            if args.check:
                stale.append(str(path.relative_to(ROOT)))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path.relative_to(ROOT)} ({len(text.encode()) // 1024} KiB)")
        # A vendored file nothing generates any more (a renamed or dropped API version).
        for path in sorted(out_dir.glob("*.json")):
            if path.name not in generated:
                if args.check:
                    stale.append(f"{path.relative_to(ROOT)} (no longer generated)")
                else:
                    path.unlink()
                    print(f"removed {path.relative_to(ROOT)}")
    if stale:
        print("stale vendored specs (run scripts/cloud-specs.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
