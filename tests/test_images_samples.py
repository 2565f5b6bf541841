"""The committed sample images and the script that makes them."""


from PIL import Image

from images import make_samples, pool
from images.make_samples import SAMPLES, SAMPLES_DIR


def sizes_of(folder):
    found = {}
    for path in sorted(folder.iterdir()):
        with Image.open(path) as image:
            image.load()
            found[path.name] = (image.format, image.size)
    return found


def test_committed_samples_are_the_listed_ones_small_and_decodable():
    names = [name for name, _ in SAMPLES]
    assert sorted(p.name for p in SAMPLES_DIR.iterdir()) == sorted(names)
    assert sum(p.stat().st_size for p in SAMPLES_DIR.iterdir()) < 300_000
    assert {fmt for fmt, _ in sizes_of(SAMPLES_DIR).values()} == {"JPEG", "PNG", "WEBP"}


def test_make_samples_rewrites_the_same_pictures(tmp_path, capsys):
    assert make_samples.main(["--out", str(tmp_path)]) == 0
    assert sizes_of(tmp_path) == sizes_of(SAMPLES_DIR)
    png = "sample-224x224.png"
    with Image.open(tmp_path / png) as made, Image.open(SAMPLES_DIR / png) as committed:
        assert made.tobytes() == committed.tobytes()
    assert capsys.readouterr().out.count("bytes\n") == len(SAMPLES)


def test_pool_cli_reports_memory_and_next_cost(capsys):
    assert pool.main(["--count", "2", "--size", "48x48", "--unique", "--seconds", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "2 images (image/jpeg; 48x48)" in out and "MiB held" in out
    assert "us per image over" in out


def test_pool_cli_bad_value_is_one_line_and_exit_code_2(capsys):
    assert pool.main(["--format", "tiff"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'tiff'" in err
