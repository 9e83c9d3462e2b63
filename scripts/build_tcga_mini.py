"""Rebuild the embedded tcga-mini dataset (oncobench/datasets/embedded/tcga-mini/<version>) from the raw folder.

    python scripts/build_tcga_mini.py --raw-dir ../shared/data/raw --replace
    python scripts/build_tcga_mini.py --raw-dir ../shared/data/raw --seal-manifest   # add the manifest hash only

Builds tcga-pancan into a temporary home first, then writes tcga-mini into the package folder.
The result is deterministic: same raw files and library versions -> same data bytes and content hash
(the manifest differs only in ``built_at``).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path

from oncobench.datasets.recipes import tcga_mini
from oncobench.datasets.store import EMBEDDED_ROOT, seal_legacy_manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, required=True)
    parser.add_argument("--replace", action="store_true", help="remove an existing embedded version first")
    parser.add_argument("--seal-manifest", action="store_true",
                        help="only add the manifest hash to an embedded version built before manifests carried one "
                             "(data files verified and left byte-identical)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    target = EMBEDDED_ROOT / tcga_mini.NAME / tcga_mini.VERSION
    if args.seal_manifest:
        manifest = seal_legacy_manifest(target)
        logging.info("%s: manifest sha256 %s (content %s unchanged)", target, manifest["manifest_sha256"],
                     manifest["content_hash"])
        return
    if args.replace and target.exists():
        shutil.rmtree(target)
    with tempfile.TemporaryDirectory() as home:
        os.environ["ONCOBENCH_HOME"] = home
        folder = tcga_mini.build(raw_dir=args.raw_dir, progress=True, home=Path(home), embedded=True)
    shutil.rmtree(EMBEDDED_ROOT / ".locks", ignore_errors=True)  # the build lock: not package data
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    logging.info("tcga-mini written to %s (%.2f MB)", folder, size / 1e6)


if __name__ == "__main__":
    main()
