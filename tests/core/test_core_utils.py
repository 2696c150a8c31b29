"""repro, models, training, plotting and widgets helpers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import ipywidgets as W
import pytest
import torch

from utils.models import count_parameters, mlp, small_cnn
from utils.plotting import format_table, image_grid, plot_curves
from utils.repro import environment_report, get_device, set_seed
from utils.training import accuracy, check_xy, evaluate, predict, train
from utils.widgets import explorer


def test_set_seed_repeats_and_pins_threads():
    set_seed(3)
    a = torch.rand(4)
    set_seed(3)
    assert torch.equal(a, torch.rand(4))
    assert torch.get_num_threads() == 1
    with pytest.raises(TypeError):
        set_seed("3")
    with pytest.raises(ValueError):
        set_seed(0, threads=0)


def test_get_device(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    assert get_device("cpu").type == "cpu"
    rep = environment_report()
    assert rep["torch"].startswith("2.13.0") and rep["device"] == "cpu"


def test_models_shapes():
    x = torch.rand(5, 1, 8, 8)
    assert mlp(64)(x).shape == (5, 10)
    assert small_cnn()(x).shape == (5, 10)
    assert small_cnn()[:4](x).shape == (5, 32, 8, 8)
    assert 40_000 < count_parameters(small_cnn()) < 60_000
    with pytest.raises(ValueError):
        small_cnn(image_size=7)
    with pytest.raises(ValueError):
        mlp(0)


def _blobs():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300,), generator=g)
    centers = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    return centers[y] + 0.5 * torch.randn(300, 2, generator=g), y


def test_train_learns_and_repeats():
    x, y = _blobs()
    set_seed(0)
    m1 = mlp(2, (16,), 3)
    h1 = train(m1, x, y, epochs=15, lr=0.02, progress=False)
    set_seed(0)
    m2 = mlp(2, (16,), 3)
    h2 = train(m2, x, y, epochs=15, lr=0.02, progress=False)
    assert h1 == h2 and h1[-1] < h1[0]
    assert evaluate(m1, x, y) > 0.9
    assert not m1.training, "train leaves the model in eval mode"
    assert predict(m1, x).shape == (300, 3)


def test_train_with_custom_batch_loss():
    x, y = _blobs()
    calls = []

    def loss(model, xb, yb):
        calls.append(len(xb))
        return torch.nn.functional.cross_entropy(model(xb), yb)

    train(mlp(2, (8,), 3), x, y, epochs=1, batch_size=100, batch_loss=loss, progress=False)
    assert calls == [100, 100, 100]
    with pytest.raises(TypeError, match="scalar"):
        train(mlp(2, (8,), 3), x, y, epochs=1, batch_loss=lambda m, xb, yb: m(xb), progress=False)


@pytest.mark.parametrize("x, y, err, match", [
    ([1.0], torch.tensor([0]), TypeError, "torch tensors"),
    (torch.tensor([[1, 2]]), torch.tensor([0]), TypeError, "float tensor"),
    (torch.rand(2, 3), torch.rand(2), TypeError, "integer tensor"),
    (torch.rand(3, 3), torch.tensor([0, 1]), ValueError, "3 examples but y has 2"),
    (torch.rand(0, 3), torch.zeros(0, dtype=torch.long), ValueError, "empty batch"),
])
def test_check_xy_errors(x, y, err, match):
    with pytest.raises(err, match=match):
        check_xy(x, y)


def test_accuracy_validates():
    assert accuracy(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 1])) == 0.5
    with pytest.raises(ValueError):
        accuracy(torch.rand(3), torch.tensor([1, 1, 1]))


def test_format_table_and_plots():
    t = format_table([("a", 0.5), ("bb", 12.25)], ["name", "value"], ".2f")
    assert t.splitlines()[0].startswith("name") and "12.25" in t and " 0.50" in t
    with pytest.raises(ValueError):
        format_table([("a",)], ["x", "y"])
    fig = image_grid([torch.rand(1, 8, 8) for _ in range(5)], titles=list("abcde"), ncols=3)
    assert len(fig.axes) == 6
    with pytest.raises(ValueError):
        image_grid([])
    with pytest.raises(ValueError):
        image_grid([torch.rand(2, 2, 2, 2)])
    ax = plot_curves([1, 2], {"a": [0.1, 0.2]}, spread={"a": [0.01, 0.02]})
    assert ax.get_legend() is not None
    with pytest.raises(ValueError):
        plot_curves([1, 2], {"a": [0.1]})


def test_explorer_rerenders_on_change():
    seen = []

    def render(eps, name):
        seen.append((eps, name))
        return f"eps={eps} {name}"

    s, d = W.FloatSlider(value=0.1, min=0, max=1), W.Dropdown(options=["fgsm", "pgd"], value="fgsm")
    box = explorer(render, {"eps": s, "name": d}, title="t")
    assert isinstance(box, W.VBox) and seen == [(0.1, "fgsm")]
    s.value = 0.5
    d.value = "pgd"
    assert seen[-2:] == [(0.5, "fgsm"), (0.5, "pgd")]
    with pytest.raises(ValueError):
        explorer(render, {})


def test_train_gives_the_same_weights_as_the_default_adam_loop():
    # utils.training uses Adam(foreach=True) for speed; it must not change a single number of any lesson.
    import torch

    from utils import training
    from utils.models import mlp

    x = torch.randn(200, 16, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 3, (200,), generator=torch.Generator().manual_seed(1))

    def weights(foreach):
        original = torch.optim.Adam
        training.torch.optim.Adam = lambda *a, **k: original(*a, **{**k, "foreach": foreach})
        try:
            torch.manual_seed(0)
            model = mlp(16, (32,), n_classes=3)
            training.train(model, x, y, epochs=3, batch_size=32, weight_decay=1e-4, progress=False)
        finally:
            training.torch.optim.Adam = original
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(weights(True), weights(False))
