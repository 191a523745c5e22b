"""run-mnist as a user runs it (`python -m mnist_model.cli`, a subprocess): output formats, accuracy on
real held-out digits, every image mode and size, a corpus of bad inputs, and weights it must refuse.

The mode and bad-input corpora go through one run (model_fixtures.corpus_run); the tests below
each check one thing about that run, so a failure still names the case.
"""
import os
import pickle
import shutil
import subprocess

import pytest
import torch
from PIL import Image

pytest.register_assert_rewrite("model_fixtures")
from model_fixtures import (  # noqa: E402
    JSON_TOLERANCE,
    MANIFEST,
    MODE_CASES,
    PACKAGE_ENV,
    PYTHON,
    WEIGHTS,
    TutorialNet,
    assert_no_traceback,
    flip_byte,
    json_lines,
    label_of,
    one_error_line,
    run_mnist,
)

pytest_plugins = ["model_fixtures"]


# ---- output formats and accuracy ----------------------------------------------------------------


@pytest.mark.parametrize("style", ["white-on-black", "black-on-white"])
def test_held_out_digits_are_classified_at_least_97_percent_right(heldout_runs, style):
    result = heldout_runs[style]
    assert result.returncode == 0 and result.stderr == "", result.stderr
    records = json_lines(result.stdout)
    assert len(records) == 300
    accuracy = sum(r["digit"] == label_of(name) for name, r in records.items()) / len(records)
    assert accuracy >= 0.97, f"{style}: {accuracy:.3f}"


def test_glob_of_several_images_prints_each_file_name_and_digit(mode_corpus, tmp_path):
    directory, cases = mode_corpus
    result = run_mnist("--image", str(directory / "L-black-on-white-28_*.png"), cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    expected = [f"{path}: Image is a {digit}" for path, digit in sorted(cases["L-black-on-white-28"])]
    assert result.stdout.splitlines() == expected


def test_one_image_prints_the_tutorials_bare_line(mode_corpus, tmp_path):
    directory, _ = mode_corpus
    result = run_mnist("--image", str(directory / "L-white-on-black-28_7.png"), cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "Image is a 7\n", "")


def test_positional_files_and_directories_in_the_order_given(mode_corpus, tmp_path):
    directory, _ = mode_corpus
    (tmp_path / "digits").mkdir()
    for digit in (0, 1, 2):
        shutil.copy(directory / f"L-white-on-black-28_{digit}.png", tmp_path / "digits" / f"d_{digit}.png")
    shutil.copy(directory / "RGB-blue-ink-200_8.png", tmp_path / "eight.png")
    result = run_mnist("eight.png", "digits", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.splitlines() == [
        "eight.png: Image is a 8",
        "digits/d_0.png: Image is a 0",
        "digits/d_1.png: Image is a 1",
        "digits/d_2.png: Image is a 2",
    ]


def test_paths_and_image_options_can_be_mixed(mode_corpus, tmp_path):
    """`run-mnist a.png --image 'more/*.png' b.png`: options between paths, as people type them."""
    directory, _ = mode_corpus
    first, glob, last = (str(directory / f"L-white-on-black-28_{d}.png") for d in (1, "[23]", 4))
    result = run_mnist(first, "--image", glob, last, cwd=tmp_path)
    assert_no_traceback(result)
    assert (result.returncode, result.stderr) == (0, "")
    expected = [f"{directory}/L-white-on-black-28_{d}.png: Image is a {d}" for d in (1, 2, 3, 4)]
    assert sorted(result.stdout.splitlines()) == expected


def test_json_gives_one_object_per_line_with_top_k_candidates(mode_corpus, tmp_path):
    directory, cases = mode_corpus
    paths = [str(path) for path, _ in cases["RGB-blue-ink-200"][:4]]
    result = run_mnist("--json", "--top-k", "5", *paths, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    records = json_lines(result.stdout)
    assert list(records) == paths
    for name, record in records.items():
        assert set(record) == {"file", "digit", "confidence", "top_k"}
        assert record["digit"] == label_of(name)
        candidates = [(c["digit"], c["probability"]) for c in record["top_k"]]
        assert len(candidates) == 5 and len({d for d, _ in candidates}) == 5
        assert candidates[0] == (record["digit"], record["confidence"])
        probabilities = [p for _, p in candidates]
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0 <= p <= 1 for p in probabilities) and sum(probabilities) <= 1 + 1e-5


def test_a_reader_that_stops_early_gets_no_traceback(heldout_pngs, tmp_path):
    """`run-mnist --json digits/ | head -1`: the reader leaves after one line.

    120 kB of output is more than a pipe holds, so run-mnist is still writing when the pipe closes.
    """
    command = [PYTHON, "-m", "mnist_model.cli", "--json", "--top-k", "10", str(heldout_pngs["white-on-black"])]
    with subprocess.Popen(command, cwd=tmp_path, env=dict(os.environ, **PACKAGE_ENV), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        first = process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read()
        process.wait(timeout=600)
    assert first.startswith("{")
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr


@pytest.mark.parametrize(
    "args, complaint",
    [([], "give images"), (["--top-k", "0", "x.png"], "--top-k"), (["--top-k", "11", "x.png"], "--top-k")],
    ids=["no-inputs", "top-k-0", "top-k-11"],
)
def test_usage_errors_exit_2_with_usage(args, complaint, tmp_path):
    result = run_mnist(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert_no_traceback(result)
    assert result.stdout == ""
    assert result.stderr.startswith("usage: ") and complaint in result.stderr.splitlines()[-1]


# ---- every image mode and size, and a corpus of bad inputs: one run -----------------------------


@pytest.mark.parametrize("case", MODE_CASES)
def test_a_clear_digit_is_classified_right_in_every_mode_and_size(corpus_run, mode_corpus, case):
    _, cases = mode_corpus
    mode = MODE_CASES[case][0]
    records = json_lines(corpus_run.stdout)
    wrong = []
    for path, digit in cases[case]:
        with Image.open(path) as image:
            assert image.mode == mode, f"{path.name} opens as {image.mode}, not the {mode} this case is about"
        record = records.get(str(path))
        assert record is not None, f"{path.name} was not printed; stderr:\n{corpus_run.stderr}"
        if record["digit"] != digit:
            wrong.append(f"{path.name}: {record['digit']}")
    assert not wrong, wrong


def test_bad_inputs_fail_the_run_but_every_good_image_is_printed(corpus_run, mode_corpus, bad_corpus):
    directory, cases = mode_corpus
    _, good, good_digit = bad_corpus
    assert corpus_run.returncode == 1
    assert_no_traceback(corpus_run)
    records = json_lines(corpus_run.stdout)
    expected = {str(path) for pairs in cases.values() for path, _ in pairs} | {str(good)}
    assert set(records) == expected  # README.txt in the directory is skipped, not an error
    assert records[str(good)]["digit"] == good_digit  # spaces, dashes, accents and CJK in the name


def test_stderr_holds_one_line_per_bad_input_and_nothing_else(corpus_run, bad_corpus):
    bad, _, _ = bad_corpus
    prefixes = tuple(f"run-mnist: {name}: " for _, name, _ in bad.values())
    lines = corpus_run.stderr.splitlines()
    stray = [line for line in lines if not line.startswith(prefixes)]
    assert not stray, "lines on stderr that are not one-line reports:\n" + "\n".join(stray)
    assert len(lines) == len(bad)


@pytest.mark.parametrize(
    "kind",
    [
        "missing-file", "glob-without-match", "text-named-png", "truncated-png", "truncated-jpeg", "truncated-tiff",
        "empty-png", "zero-byte-jpg", "decompression-bomb", "directory-without-images", "empty-directory-as---image",
        "blank-image", "unreadable", "garbage-gif", "garbage-bmp", "garbage-webp",
    ],
)
def test_each_bad_input_is_named_on_exactly_one_line(corpus_run, bad_corpus, kind):
    bad, _, _ = bad_corpus
    _, name, word = bad[kind]
    lines = [line for line in corpus_run.stderr.splitlines() if line.startswith(f"run-mnist: {name}: ")]
    assert len(lines) == 1, corpus_run.stderr
    problem = lines[0][len(f"run-mnist: {name}: "):]
    assert problem.strip(), lines[0]
    if word:
        assert word in problem, lines[0]


# ---- --weights: other state_dicts, and files that must be refused -------------------------------


def test_tutorial_net_weights_load_via_weights_and_predict_identically(mode_corpus, tmp_path):
    """A state_dict saved from the tutorial's own Net works with --weights, predictions and all.

    Its fc2 rows are rotated so it answers digit+1: the output cannot come from the bundled weights.
    """
    from mnist_model.inference import prepare

    directory, cases = mode_corpus
    paths = [path for case in ("L-white-on-black-28", "RGB-blue-ink-200") for path, _ in cases[case]]
    tutorial = TutorialNet()
    tutorial.load_state_dict(torch.load(WEIGHTS, weights_only=True), strict=True)
    source = [(d - 1) % 10 for d in range(10)]  # output d is the committed model's d-1
    with torch.no_grad():
        tutorial.fc2.weight.copy_(tutorial.fc2.weight[source])
        tutorial.fc2.bias.copy_(tutorial.fc2.bias[source])
    torch.save(tutorial.state_dict(), tmp_path / "tutorial.pth")

    result = run_mnist("--json", "--weights", tmp_path / "tutorial.pth", *paths, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    records = json_lines(result.stdout)
    with torch.no_grad():
        probabilities = tutorial.eval()(torch.stack([prepare(p) for p in paths])).exp()
    for path, row in zip(paths, probabilities):
        record = records[str(path)]
        assert record["digit"] == int(row.argmax()) == (label_of(path) + 1) % 10
        assert abs(record["confidence"] - float(row.max())) <= JSON_TOLERANCE


class _RunsCode:
    """Unpickling this runs `touch <marker>`: what a malicious 'weights' file does."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


@pytest.fixture(scope="module")
def code_running_weights(mode_corpus, tmp_path_factory):
    """{how: (result, weights, marker)}: run-mnist --weights <a pickle whose loading runs `touch marker`>,
    made with torch.save (zip) and with plain pickle.dumps."""
    directory, _ = mode_corpus
    runs = {}
    for how in ("torch.save", "pickle.dumps"):
        tmp = tmp_path_factory.mktemp("evil")
        marker, weights = tmp / "code-ran", tmp / "evil.pth"
        if how == "torch.save":
            torch.save({"conv1.weight": _RunsCode(marker)}, weights)
        else:
            weights.write_bytes(pickle.dumps(_RunsCode(marker)))
        runs[how] = run_mnist("--weights", weights, directory / "L-white-on-black-28_4.png", cwd=tmp), weights, marker
    return runs


@pytest.mark.parametrize("how", ["torch.save", "pickle.dumps"])
def test_weights_that_would_run_code_are_refused_and_nothing_runs(how, code_running_weights):
    result, weights, marker = code_running_weights[how]
    assert not marker.exists()
    assert result.returncode == 1 and result.stdout == ""
    line = one_error_line(result)
    assert str(weights) in line and "refused" in line


def test_the_refusal_names_the_code_the_weights_would_run(code_running_weights):
    """torch names the blocked callable (posix.system) deep in a long message; the one line should carry it,
    not the first 120 characters of torch's advice about its weights_only default."""
    result, _, _ = code_running_weights["torch.save"]
    assert "system" in one_error_line(result)


def test_tampered_weights_beside_their_manifest_are_refused(mode_corpus, tmp_path):
    directory, _ = mode_corpus
    shutil.copy(WEIGHTS, tmp_path / "model.pth")
    shutil.copy(MANIFEST, tmp_path / "model.json")
    flip_byte(tmp_path / "model.pth")
    result = run_mnist("--weights", tmp_path / "model.pth", directory / "L-white-on-black-28_4.png", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    line = one_error_line(result)
    assert str(tmp_path / "model.pth") in line and "sha256" in line and "does not match" in line
    assert "reinstall" in line or "download" in line  # what to do about it


@pytest.mark.parametrize("case, detail", [("another shape", "fc1.weight"), ("missing", "not found")])
def test_unusable_weights_are_refused_on_one_line(case, detail, mode_corpus, tmp_path):
    directory, _ = mode_corpus
    weights = tmp_path / ("wide.pth" if case == "another shape" else "nope.pth")
    if case == "another shape":
        state = torch.load(WEIGHTS, weights_only=True)
        state["fc1.weight"] = torch.zeros(64, 320)
        state["fc1.bias"] = torch.zeros(64)
        torch.save(state, weights)
    result = run_mnist("--weights", weights, directory / "L-white-on-black-28_4.png", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    line = one_error_line(result)
    assert str(weights) in line and detail in line


def test_a_fifo_is_skipped_on_one_line_not_waited_on(mode_corpus, tmp_path):
    """`mkfifo f.png; run-mnist f.png` used to block forever on the read; named or globbed, it is skipped."""
    directory, _ = mode_corpus
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    shutil.copy(directory / "L-white-on-black-28_4.png", pictures / "four.png")
    os.mkfifo(pictures / "pipe.png")
    for args in ([pictures / "pipe.png", pictures / "four.png"], ["--image", str(pictures / "*.png")], [pictures]):
        from helpers import run

        result = run([PYTHON, "-m", "mnist_model.cli", *args], cwd=tmp_path, env=PACKAGE_ENV, timeout=60)
        assert result.returncode == 1 and result.stdout.strip().endswith("four.png: Image is a 4")
        line = one_error_line(result)
        assert line.endswith("pipe.png: not a regular file (a pipe, socket or device); only image files are read")


def test_a_huge_photo_is_reduced_right_after_decoding(tmp_path):
    """Over WORKING_PIXELS an image is box-reduced at once (a JPEG decoded at that scale), so the copies that
    follow are small; the digit still reads."""
    from mnist_model.preprocess import WORKING_PIXELS, field_of, open_image

    page = Image.new("RGB", (6000, 4000), "white")
    page.paste(Image.new("RGB", (120, 1400), "black"), (2900, 1300))  # a thick "1" in the middle
    pages = {"photo.jpg": page, "scan.png": page, "palette.png": page.convert("P"), "fax.tif": page.convert("1"),
             "deep.png": page.convert("L").point(lambda v: v * 257, "I").convert("I;16")}
    for name, picture in pages.items():  # reduce() refuses modes P, 1 and I;16: they are converted first
        picture.save(tmp_path / name)
        opened = open_image(tmp_path / name)
        assert opened.width * opened.height <= WORKING_PIXELS and abs(opened.width / opened.height - 1.5) < 0.01
        field = field_of(tmp_path / name)
        ink_per_column = [sum(field[row * 28 + col] for row in range(28)) for col in range(28)]
        assert max(field) > 200 and sum(ink_per_column[11:17]) > 0.9 * sum(ink_per_column)  # a centred bar
