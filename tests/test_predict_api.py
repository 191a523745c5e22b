"""mnist_model.predict: paths, PIL images, arrays of either polarity and type, lists; same answers as
run-mnist; ImageError for what is not a digit."""
import numpy as np
import pytest
import torch
from PIL import Image

pytest.register_assert_rewrite("model_fixtures")
from model_fixtures import JSON_TOLERANCE, MODE_CASES, WEIGHTS, json_lines  # noqa: E402

pytest_plugins = ["model_fixtures"]


@pytest.fixture(scope="module")
def api():
    import mnist_model

    return mnist_model


def test_predict_a_path_gives_a_prediction_with_top_k(api, mode_corpus):
    directory, _ = mode_corpus
    result = api.predict(directory / "RGB-blue-ink-200_6.png", top_k=4)
    assert isinstance(result, api.Prediction)
    assert result.digit == 6 and 0.5 < result.confidence <= 1
    assert len(result.top_k) == 4 and result.top_k[0] == (result.digit, result.confidence)
    assert [p for _, p in result.top_k] == sorted((p for _, p in result.top_k), reverse=True)
    assert api.predict(str(directory / "RGB-blue-ink-200_6.png")).digit == 6


@pytest.mark.parametrize("case", MODE_CASES)
def test_predict_a_pil_image_of_every_mode(api, mode_corpus, case):
    _, cases = mode_corpus
    for path, digit in cases[case]:
        with Image.open(path) as image:
            assert api.predict(image).digit == digit, path.name


def test_predict_numpy_arrays_uint8_float_and_rgb(api, clear_digits):
    for digit, image in clear_digits.items():
        as_uint8 = api.predict(image)
        as_float = api.predict(image.astype(np.float32) / 255.0)
        rgb_paper = api.predict(np.repeat((255 - image)[..., None], 3, axis=2))
        assert as_uint8.digit == as_float.digit == rgb_paper.digit == digit
        assert abs(as_uint8.confidence - as_float.confidence) < 1e-4


def test_predict_an_rgba_array_like_the_same_image_opened_by_pil(api, mode_corpus):
    """np.asarray(Image.open('digit.png')) of a black digit on a transparent background."""
    _, cases = mode_corpus
    for path, digit in cases["RGBA-black-on-transparent"]:
        with Image.open(path) as image:
            assert api.predict(np.asarray(image)).digit == digit, path.name


def test_predict_a_list_gives_a_list_in_order(api, mode_corpus, clear_digits):
    directory, _ = mode_corpus
    inputs = [directory / "L-black-on-white-28_2.png", clear_digits[9], Image.open(directory / "CMYK-jpeg_4.jpg")]
    results = api.predict(inputs)
    assert isinstance(results, list) and [r.digit for r in results] == [2, 9, 4]
    assert [r.digit for r in api.predict(tuple(inputs))] == [2, 9, 4]


def test_predict_agrees_with_run_mnist(api, corpus_run, mode_corpus):
    _, cases = mode_corpus
    records = json_lines(corpus_run.stdout)
    paths = [path for pairs in cases.values() for path, _ in pairs]
    for path, result in zip(paths, api.predict(paths)):
        assert result.digit == records[str(path)]["digit"], path.name
        assert abs(result.confidence - records[str(path)]["confidence"]) <= JSON_TOLERANCE, path.name


def test_predict_with_other_weights(api, clear_digits, tmp_path):
    state = torch.load(WEIGHTS, weights_only=True)
    source = [(d - 1) % 10 for d in range(10)]  # these weights answer digit+1
    state["fc2.weight"], state["fc2.bias"] = state["fc2.weight"][source], state["fc2.bias"][source]
    torch.save(state, tmp_path / "shifted.pth")
    assert [p.digit for p in api.predict(list(clear_digits.values()), weights=tmp_path / "shifted.pth")] == [
        (d + 1) % 10 for d in clear_digits
    ]


@pytest.mark.parametrize(
    "blank",
    [
        pytest.param(lambda tmp: np.zeros((28, 28), np.uint8), id="black-array"),
        pytest.param(lambda tmp: np.full((50, 40), 1.0), id="white-float-array"),
        pytest.param(lambda tmp: Image.new("RGB", (200, 200), "white"), id="white-pil"),
        pytest.param(lambda tmp: Image.new("RGBA", (64, 64), (0, 0, 0, 0)), id="transparent-pil"),
    ],
)
def test_predict_a_blank_image_raises_image_error(api, blank, tmp_path):
    with pytest.raises(api.ImageError, match="blank"):
        api.predict(blank(tmp_path))


def test_predict_a_missing_or_broken_file_raises_image_error(api, tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(api.ImageError, match="no such file"):
        api.predict(tmp_path / "missing.png")
    with pytest.raises(api.ImageError):
        api.predict(tmp_path / "broken.png")


def test_sixteen_bit_images_use_no_pillow_api_deprecated_for_removal(api, mode_corpus):
    """pillow>=9.1 is unbounded: what Pillow deprecates now fails for users of its next major version."""
    import warnings

    _, cases = mode_corpus
    path, digit = cases["I;16-white-on-black"][0]
    with Image.open(path) as image, warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert api.predict(image).digit == digit
