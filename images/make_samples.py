"""Write the project's sample images into images/samples/ (all made here, with Pillow).

    python -m images.make_samples [--out images/samples]

The files are synthetic (gradient, shapes, noise; see `images.synth`) with fixed seeds,
so running this again with the pinned Pillow gives the same pictures.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from images.cli import OneLineParser, fail
from images.errors import ImageError
from images.synth import SynthSpec, synthesize

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
SAMPLES = (
    ("sample-640x480.jpg", SynthSpec.parse("640x480", "jpeg", quality=85, seed=1)),
    ("sample-768x512.webp", SynthSpec.parse("768x512", "webp", quality=80, seed=2)),
    ("sample-224x224.png", SynthSpec.parse("224x224", "png", seed=3)),
)
"""(file name, spec): a photo-sized JPEG, a wide WebP and a small lossless PNG."""


def write_samples(out: Path = SAMPLES_DIR) -> list[Path]:
    """Render and write every sample into `out`; returns the written paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, spec in SAMPLES:
        path = out / name
        path.write_bytes(synthesize(spec, 0).data)
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Write the samples and print one line per file with its size."""
    parser = OneLineParser(prog="python -m images.make_samples", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(SAMPLES_DIR), help="folder to write (default images/samples)")
    args = parser.parse_args(argv)
    try:
        paths = write_samples(Path(args.out))
    except (ImageError, OSError) as error:
        return fail(error, parser.prog)
    for path in paths:
        print(f"{path} {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
