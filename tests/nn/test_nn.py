"""scratchgen.nn: the module system, the layers, their initializations and the .npz checkpoints."""
from __future__ import annotations

import math
import os
from collections import OrderedDict

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn
import scratchgen.nn.functional as F
from scratchgen.autograd import losses, nn_ops, ops
from scratchgen.gradcheck import gradcheck_projection


class Block(nn.Module):
    """Registers a sub-module, a parameter, a buffer and a container, in that order."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 4)
        self.scale = nn.Parameter(np.ones(4))
        self.register_buffer("counts", np.zeros(4, dtype=np.int64))
        self.layers = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))

    def forward(self, x):
        return self.layers(self.proj(x) * self.scale)


def small_cnn(seed: int) -> nn.Module:
    sg.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
        nn.Conv2d(4, 4, 4, stride=2, padding=1), nn.GroupNorm(2, 4), nn.SiLU(),
        nn.Flatten(), nn.Linear(4 * 4 * 4, 3),
    )


# ------------------------------------------------------------------------- the module system
def test_parameter_is_a_float32_tensor_that_requires_grad():
    param = nn.Parameter([[1, 2], [3, 4]])
    assert isinstance(param, sg.Tensor) and param.requires_grad and param.dtype == np.float32
    assert nn.Parameter(np.zeros(2), dtype=np.float64).dtype == np.float64


def test_registration_order_and_dotted_names():
    block = Block()
    assert [name for name, _ in block.named_parameters()] == [
        "scale", "proj.weight", "proj.bias", "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]
    assert [name for name, _ in block.named_buffers()] == ["counts"]
    assert [name for name, _ in block.named_children()] == ["proj", "layers"]
    assert [type(m).__name__ for m in block.modules()] == ["Block", "Linear", "Sequential", "Linear", "ReLU", "Linear"]
    assert [name for name, _ in block.named_modules()] == ["", "proj", "layers", "layers.0", "layers.1", "layers.2"]
    assert list(block.state_dict()) == [
        "scale", "counts", "proj.weight", "proj.bias",
        "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]
    assert [name for name, _ in block.named_parameters(recurse=False)] == ["scale"]


def test_shared_parameters_and_modules_are_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert len(list(model.modules())) == 3  # the Sequential, the shared Linear, the ReLU


def test_reassignment_keeps_position_and_del_unregisters():
    block = Block()
    block.proj = nn.Linear(3, 4)
    block.scale = nn.Parameter(np.zeros(4))
    assert [name for name, _ in block.named_children()] == ["proj", "layers"]
    assert next(iter(block.named_parameters()))[0] == "scale"
    del block.scale
    assert "scale" not in dict(block.named_parameters())
    with pytest.raises(AttributeError):
        block.scale


def test_wrong_assignments_are_refused_with_explanations():
    block = Block()
    with pytest.raises(TypeError, match="nn.Parameter"):
        block.scale = np.ones(4)
    with pytest.raises(TypeError, match="NumPy array"):
        block.counts = sg.tensor([1.0])
    with pytest.raises(TypeError, match="sub-module 'proj'"):
        block.proj = 3

    class Forgetful(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Forgetful()
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)


def test_train_and_eval_reach_every_submodule():
    block = Block()
    assert all(m.training for m in block.modules())
    assert block.eval() is block
    assert not any(m.training for m in block.modules())
    block.layers.train()
    assert block.layers[1].training and not block.training


def test_zero_grad_and_requires_grad():
    block = Block()
    block(np.ones((2, 3))).sum().backward()
    assert all(p.grad is not None for p in block.parameters())
    block.zero_grad()
    assert all(p.grad is None for p in block.parameters())
    block.requires_grad_(False)
    assert not any(p.requires_grad for p in block.parameters())


def test_to_double_converts_parameters_and_float_buffers_in_place():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.MaskedConv2d(1, 1, 3, "A"))
    weight = model[0].weight
    model.double()
    assert model[0].weight is weight and weight.dtype == np.float64
    assert model[1].running_mean.dtype == np.float64 and model[2].mask.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64  # a counter stays an integer
    assert model.float()[0].weight.dtype == np.float32
    with pytest.raises(TypeError, match="float32 or float64"):
        model.to(np.int32)


def test_whole_model_gradient_check_in_float64():
    model = small_cnn(seed=0).double()
    x = np.random.default_rng(0).standard_normal((2, 1, 8, 8))
    assert gradcheck_projection(lambda images: model(images), [x], directions=3)
    model(sg.tensor(x, dtype=np.float64)).sum().backward()
    assert all(p.grad is not None and p.grad.dtype == np.float64 for p in model.parameters())


def test_containers_index_slice_iterate():
    layers = [nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3 and list(model) == layers and model[-1] is layers[2]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    with pytest.raises(IndexError, match="out of range"):
        model[3]
    model[1] = nn.Tanh()
    assert [name for name, _ in model.named_children()] == ["0", "1", "2"] and isinstance(model[1], nn.Tanh)
    named = nn.Sequential(OrderedDict(encoder=nn.Linear(2, 2), act=nn.ReLU()))
    assert [name for name, _ in named.named_children()] == ["encoder", "act"]
    assert [name for name, _ in named[1:].named_children()] == ["act"]

    blocks = nn.ModuleList([nn.Linear(2, 2)]).append(nn.Linear(2, 2))
    assert [name for name, _ in blocks.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert [name for name, _ in blocks[1:].named_children()] == ["0"]


def test_repr_is_a_tree_like_pytorch():
    model = nn.Sequential(nn.Conv2d(1, 32, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(32),
                          nn.Sequential(nn.LeakyReLU(0.2), nn.Dropout(0.1)), nn.Flatten(), nn.Linear(8, 2))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 32, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)\n"
        "  (1): BatchNorm2d(32, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (2): Sequential(\n"
        "    (0): LeakyReLU(negative_slope=0.2)\n"
        "    (1): Dropout(p=0.1)\n"
        "  )\n"
        "  (3): Flatten(start_dim=1, end_dim=-1)\n"
        "  (4): Linear(in_features=8, out_features=2, bias=True)\n"
        ")"
    )


# ------------------------------------------------------------------------- state dicts
def test_state_dict_holds_copies():
    model = nn.Linear(2, 2)
    state = model.state_dict()
    state["weight"][...] = 7
    assert not np.any(model.weight.data == 7)


def test_load_state_dict_copies_in_place():
    source, target = small_cnn(seed=1), small_cnn(seed=2)
    weight = target[0].weight
    target.load_state_dict(source.state_dict())
    assert target[0].weight is weight
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        assert np.array_equal(a, b) and a.dtype == b.dtype, name


def test_load_errors_list_every_missing_unexpected_and_misshaped_entry():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    before = model.state_dict()
    state = model.state_dict()
    del state["0.bias"]
    state["0.extra"] = np.zeros(2)
    state["2.weight"] = np.zeros((2, 5))
    with pytest.raises(ValueError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert "missing" in message and "0.bias" in message
    assert "unexpected" in message and "0.extra" in message
    assert "2.weight expected (2, 3), got (2, 5)" in message
    for name, array in model.state_dict().items():  # nothing was written
        assert np.array_equal(array, before[name])


def test_non_strict_load_skips_names_but_not_shapes():
    model = nn.Linear(4, 3)
    result = model.load_state_dict({"weight": np.ones((3, 4)), "other": np.ones(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    assert np.all(model.weight.data == 1)
    with pytest.raises(ValueError, match=r"weight expected \(3, 4\), got \(4, 3\)"):
        model.load_state_dict({"weight": np.ones((4, 3))}, strict=False)


def test_npz_round_trip_gives_bitwise_equal_outputs(tmp_path):
    model = small_cnn(seed=3)
    x = np.random.default_rng(1).standard_normal((5, 1, 8, 8)).astype(np.float32)
    for _ in range(3):  # move the running statistics away from their initial values
        model(x)
    path = tmp_path / "model.npz"
    nn.save_state_dict(path, model)
    fresh = small_cnn(seed=4)
    fresh.load_state_dict(nn.load_state_dict_file(path))
    model.eval(), fresh.eval()
    assert np.array_equal(model(x).data, fresh(x).data)
    loaded = nn.load_state_dict_file(path)
    assert list(loaded) == list(model.state_dict())
    assert loaded["1.num_batches_tracked"].dtype == np.int64 and int(loaded["1.num_batches_tracked"]) == 3


def test_loading_a_file_into_the_wrong_model_names_the_problems(tmp_path):
    path = tmp_path / "linear.npz"
    nn.save_state_dict(path, nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"weight expected \(3, 5\), got \(3, 4\)"):
        nn.Linear(5, 3).load_state_dict(nn.load_state_dict_file(path))
    with pytest.raises(ValueError, match="missing.*0.weight, 0.bias"):
        nn.Sequential(nn.Linear(4, 3)).load_state_dict(nn.load_state_dict_file(path))


def test_checkpoint_holds_several_parts(tmp_path):
    path = tmp_path / "ckpt.npz"
    model = nn.Linear(2, 2)
    nn.save_checkpoint(path, model=model, extra={"step": np.array(5)})
    parts = nn.load_checkpoint(path)
    assert set(parts) == {"model", "extra"} and int(parts["extra"]["step"]) == 5
    assert np.array_equal(parts["model"]["weight"], model.weight.data)
    with pytest.raises(ValueError, match="cannot contain '.'"):
        nn.save_checkpoint(path, **{"a.b": model})


def test_checkpoints_refuse_pickled_objects(tmp_path):
    with pytest.raises(TypeError, match="no pickled objects"):
        nn.save_state_dict(tmp_path / "bad.npz", {"names": np.array(["a", {}], dtype=object)})
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, weights=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        nn.load_state_dict_file(pickled)


def test_an_entry_named_file_is_saved(tmp_path):
    # np.savez(file, **arrays) would fail on this name; the writer does not use savez.
    nn.save_state_dict(tmp_path / "f.npz", {"file": np.ones(2)})
    assert np.array_equal(nn.load_state_dict_file(tmp_path / "f.npz")["file"], np.ones(2))


@pytest.mark.parametrize("failure", ["while writing", "at the rename"])
def test_an_interrupted_save_leaves_the_old_file_intact(tmp_path, monkeypatch, failure):
    path = tmp_path / "model.npz"
    nn.save_state_dict(path, nn.Linear(3, 2))
    old_bytes = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("simulated crash")

    if failure == "while writing":
        written = []
        real_write = np.lib.format.write_array

        def write_then_crash(file, array, **kwargs):
            if written:  # the first array reaches the temporary file, then the process dies
                crash()
            written.append(real_write(file, array, **kwargs))

        monkeypatch.setattr(np.lib.format, "write_array", write_then_crash)
    else:
        monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        nn.save_state_dict(path, nn.Linear(30, 20))
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    monkeypatch.undo()
    assert list(nn.load_state_dict_file(path)) == ["weight", "bias"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_checkpoint_gets_the_mode_open_gives_a_new_file(tmp_path):
    # Written by scratchgen.atomic_file (tests/test_atomic_file.py), not tempfile's owner-only 0o600.
    previous = os.umask(0o027)
    try:
        nn.save_checkpoint(tmp_path / "checkpoint.npz", model=nn.Linear(2, 2))
    finally:
        os.umask(previous)
    assert os.stat(tmp_path / "checkpoint.npz").st_mode & 0o777 == 0o640


# ------------------------------------------------------------------------- layers
def test_linear_matches_numpy():
    layer = nn.Linear(3, 2)
    x = np.random.default_rng(0).standard_normal((4, 5, 3)).astype(np.float32)
    expected = x @ layer.weight.data.T + layer.bias.data
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-6)
    assert nn.Linear(3, 2, bias=False).bias is None


def test_convolution_output_shapes():
    x = np.zeros((2, 4, 9, 9), dtype=np.float32)
    assert nn.Conv2d(4, 6, 3, stride=2, padding=1)(x).shape == (2, 6, 5, 5)
    assert nn.Conv2d(4, 6, 3, dilation=2, groups=2)(x).shape == (2, 6, 5, 5)
    # (H - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1 = 8*2 - 2 + 3 + 1 + 1
    assert nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, output_padding=1)(x).shape == (2, 6, 19, 19)
    assert nn.ConvTranspose2d(4, 6, 3, groups=2).weight.shape == (4, 3, 3, 3)


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_conv_sees_only_earlier_pixels(mask_type):
    layer = nn.MaskedConv2d(2, 3, 5, mask_type, padding=2)
    assert "mask" in dict(layer.named_buffers()) and "mask" not in dict(layer.named_parameters())
    x = sg.tensor(np.random.default_rng(0).standard_normal((1, 2, 6, 6)), requires_grad=True)
    row, col = 3, 2
    layer(x)[0, :, row, col].sum().backward()
    seen = np.any(x.grad[0] != 0, axis=0)
    raster = np.arange(36).reshape(6, 6)
    allowed = raster < raster[row, col] if mask_type == "A" else raster <= raster[row, col]
    assert not np.any(seen & ~allowed), "the output depends on a pixel that comes later in raster order"
    assert seen[row, col] == (mask_type == "B")
    assert np.all(layer.weight.grad[layer.mask == 0] == 0)


def test_batch_norm_uses_batch_statistics_in_training_and_running_ones_in_eval():
    layer = nn.BatchNorm2d(3, momentum=0.1)
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(8, 3, 4, 4)).astype(np.float32)
    y = layer(x).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    batch_mean, batch_var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(layer.running_mean, 0.1 * batch_mean, rtol=1e-5)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * batch_var, rtol=1e-5)
    layer.eval()
    expected = (x - layer.running_mean[:, None, None]) / np.sqrt(layer.running_var[:, None, None] + 1e-5)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-5, atol=1e-6)
    assert int(layer.num_batches_tracked) == 1  # evaluation does not count


def test_batch_norm_cumulative_average_and_untracked_statistics():
    layer = nn.BatchNorm1d(2, momentum=None)
    batches = [np.random.default_rng(seed).normal(seed, 1.0, size=(16, 2)).astype(np.float32) for seed in (1, 2)]
    for batch in batches:
        layer(batch)
    np.testing.assert_allclose(layer.running_mean, np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-5)
    untracked = nn.BatchNorm1d(2, track_running_stats=False).eval()
    assert list(untracked.state_dict()) == ["weight", "bias"]
    np.testing.assert_allclose(untracked(batches[0]).data.mean(axis=0), 0, atol=1e-5)  # batch statistics in eval too
    assert nn.BatchNorm1d(2)(np.ones((3, 2, 5), dtype=np.float32)).shape == (3, 2, 5)


def test_group_and_layer_norm_normalize_per_sample():
    x = np.random.default_rng(0).normal(1.0, 2.0, size=(2, 4, 3, 3)).astype(np.float32)
    y = nn.GroupNorm(2, 4)(x).data.reshape(2, 2, -1)
    np.testing.assert_allclose(y.mean(axis=2), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=2), 1, rtol=1e-3)
    z = nn.LayerNorm((3, 3))(x).data
    np.testing.assert_allclose(z.mean(axis=(2, 3)), 0, atol=1e-5)


def test_dropout_scales_survivors_and_is_identity_in_eval():
    x = np.ones((200, 200), dtype=np.float32)
    layer = nn.Dropout(0.25, generator=np.random.default_rng(0))
    y = layer(x).data
    assert abs(np.mean(y == 0) - 0.25) < 0.01
    assert np.allclose(y[y != 0], 1 / 0.75)
    assert np.array_equal(layer.eval()(x).data, x)
    again = nn.Dropout(0.25, generator=np.random.default_rng(0))(x).data
    assert np.array_equal(y, again)


def test_embedding_flatten_unflatten_upsample_pooling():
    table = nn.Embedding(10, 3)
    assert np.array_equal(table(np.array([[1, 2], [3, 1]])).data[1, 1], table.weight.data[1])
    x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    flat = nn.Flatten()(x)
    assert flat.shape == (2, 48)
    assert np.array_equal(nn.Unflatten(1, (3, 4, 4))(flat).data, x)
    assert nn.Upsample(scale_factor=2)(x).shape == (2, 3, 8, 8)
    assert nn.Upsample(size=(6, 6), mode="bilinear")(x).shape == (2, 3, 6, 6)
    assert np.array_equal(nn.MaxPool2d(2)(x).data, x.reshape(2, 3, 2, 2, 2, 2).max(axis=(3, 5)))
    assert np.allclose(nn.AvgPool2d(2)(x).data, x.reshape(2, 3, 2, 2, 2, 2).mean(axis=(3, 5)))


def test_activations_match_their_ops():
    x = np.linspace(-3, 3, 13, dtype=np.float32)
    for layer, op in [(nn.ReLU(), ops.relu), (nn.SiLU(), ops.silu), (nn.Tanh(), ops.tanh),
                      (nn.Sigmoid(), ops.sigmoid), (nn.Softplus(), ops.softplus)]:
        assert np.array_equal(layer(x).data, op(x).data), layer
    assert np.array_equal(nn.LeakyReLU(0.2)(x).data, ops.leaky_relu(x, 0.2).data)
    assert nn.Identity(3, anything=True)(x) is x


CONV = nn.Conv2d(1, 32, 4, stride=2)


@pytest.mark.parametrize("layer, shape, expected", [
    (CONV, (8, 3, 28, 28), ["Conv2d(1, 32, kernel_size=(4, 4), stride=(2, 2))", "(N, 1, H, W)", "(8, 3, 28, 28)",
                            "axis 1 has size 3"]),
    (CONV, (1, 28, 28), ["(N, 1, H, W)", "(1, 28, 28)", "3 dimensions, the layer needs 4"]),
    (nn.ConvTranspose2d(16, 8, 4), (2, 8, 4, 4), ["ConvTranspose2d(16, 8", "(N, 16, H, W)", "(2, 8, 4, 4)"]),
    (nn.Linear(8, 4), (5, 7), ["Linear(in_features=8, out_features=4, bias=True)", "(N, *, 8)", "(5, 7)"]),
    (nn.Linear(8, 4), (8,), ["(N, *, 8)", "(8,)", "at least 2"]),
    (nn.BatchNorm2d(16), (4, 8, 3, 3), ["BatchNorm2d(16", "(N, 16, H, W)", "(4, 8, 3, 3)"]),
    (nn.BatchNorm1d(16), (4, 8), ["BatchNorm1d(16", "(N, 16) or (N, 16, L)", "(4, 8)"]),
    (nn.GroupNorm(4, 32), (2, 16, 8, 8), ["GroupNorm(4, 32", "(N, 32, *)", "(2, 16, 8, 8)"]),
    (nn.LayerNorm(64), (2, 10, 32), ["LayerNorm((64,)", "(N, *, 64)", "(2, 10, 32)"]),
    (nn.MaxPool2d(2), (4, 4), ["MaxPool2d(kernel_size=(2, 2)", "(N, C, H, W)", "(4, 4)"]),
    (nn.Upsample(scale_factor=2), (1, 4, 4), ["Upsample(scale_factor=2", "(N, C, H, W)"]),
    (nn.Flatten(2), (4, 5), ["Flatten(start_dim=2, end_dim=-1)", "(4, 5)", "no axis 2"]),
    (nn.Unflatten(1, (2, 3)), (4, 5), ["Unflatten(dim=1, unflattened_size=(2, 3))", "(4, 5)", "size 5"]),
])
def test_layers_reject_wrong_input_shapes_naming_layer_and_shapes(layer, shape, expected):
    with pytest.raises(ValueError) as error:
        layer(np.zeros(shape, dtype=np.float32))
    for fragment in expected:
        assert fragment in str(error.value), f"{fragment!r} not in {str(error.value)!r}"


@pytest.mark.parametrize("build, match", [
    (lambda: nn.Conv2d(3, 8, 3, stride=0), "Conv2d: stride must be >= 1"),
    (lambda: nn.Conv2d(3, 8, 3, padding=-1), "padding must be >= 0"),
    (lambda: nn.Conv2d(3, 8, 3, dilation=0), "dilation must be >= 1"),
    (lambda: nn.Conv2d(3, 8, 0), "kernel_size must be >= 1"),
    (lambda: nn.Conv2d(3, 8, (3, 3, 3)), "kernel_size must be an int or a pair"),
    (lambda: nn.Conv2d(3, 8, 3, groups=2),
     r"in_channels \(3\) and out_channels \(8\) must both be divisible by groups \(2\)"),
    (lambda: nn.ConvTranspose2d(3, 8, 3, stride=2, output_padding=2), "output_padding .* must be smaller"),
    (lambda: nn.Linear(0, 3), "in_features must be a positive int"),
    (lambda: nn.MaskedConv2d(3, 8, 4, "A"), "odd"),
    (lambda: nn.MaskedConv2d(3, 8, 3, "C"), "'A' or 'B'"),
    (lambda: nn.Dropout(1.0), r"p must be in \[0, 1\)"),
    (lambda: nn.Dropout(-0.1), r"p must be in \[0, 1\)"),
    (lambda: nn.GroupNorm(3, 16), r"num_channels \(16\) must be divisible by num_groups \(3\)"),
    (lambda: nn.BatchNorm2d(8, momentum=1.5), "momentum must be in"),
    (lambda: nn.MaxPool2d(2, padding=2), "at most half the kernel size"),
    (lambda: nn.Upsample(), "exactly one of size and scale_factor"),
    (lambda: nn.Upsample(scale_factor=2, mode="bicubic"), "'nearest' or 'bilinear'"),
])
def test_invalid_hyperparameters_fail_at_construction(build, match):
    with pytest.raises(ValueError, match=match):
        build()


# ------------------------------------------------------------------------- initialization
def _uniform_bound_is(array: np.ndarray, bound: float) -> bool:
    """All values within the bound, and the extremes near it (so a smaller bound would fail)."""
    return np.abs(array).max() <= bound * (1 + 1e-6) and np.abs(array).max() > 0.97 * bound


@pytest.mark.parametrize("layer, fan_in", [
    (nn.Linear(400, 300), 400),
    (nn.Conv2d(16, 32, 3), 16 * 9),
    (nn.Conv2d(16, 32, 3, groups=4), 4 * 9),
    # PyTorch reads the fan in of (Cin, Cout/groups, KH, KW) from axis 1: Cout/groups * KH * KW.
    (nn.ConvTranspose2d(16, 64, 3), 64 * 9),
    (nn.MaskedConv2d(8, 16, 5, "B"), 8 * 25),
])
def test_default_init_is_uniform_with_bound_one_over_sqrt_fan_in(layer, fan_in):
    bound = 1 / math.sqrt(fan_in)
    assert _uniform_bound_is(layer.weight.data, bound)
    assert np.abs(layer.bias.data).max() <= bound * (1 + 1e-6)
    np.testing.assert_allclose(layer.weight.data.std(), bound / math.sqrt(3), rtol=0.05)


def test_norm_and_embedding_defaults():
    for layer in (nn.BatchNorm2d(5), nn.GroupNorm(1, 5), nn.LayerNorm(5)):
        assert np.all(layer.weight.data == 1) and np.all(layer.bias.data == 0)
    table = nn.Embedding(1000, 100).weight.data
    assert abs(table.mean()) < 0.01 and abs(table.std() - 1) < 0.01


@pytest.mark.parametrize("fill, expected_std", [
    (lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"), math.sqrt(2 / 500)),
    (lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"), math.sqrt(2 / 500)),
    (lambda w: nn.init.kaiming_normal_(w, mode="fan_out"), math.sqrt(2 / (1 + 0.01 ** 2) / 1000)),
    (lambda w: nn.init.kaiming_uniform_(w, a=math.sqrt(5)), 1 / math.sqrt(3 * 500)),
    (lambda w: nn.init.xavier_uniform_(w), math.sqrt(2 / 1500)),
    (lambda w: nn.init.xavier_normal_(w, gain=nn.init.calculate_gain("tanh")), 5 / 3 * math.sqrt(2 / 1500)),
    (lambda w: nn.init.normal_(w, 0.0, 0.02), 0.02),
    (lambda w: nn.init.uniform_(w, -1.0, 1.0), 1 / math.sqrt(3)),
])
def test_init_empirical_std(fill, expected_std):
    weight = nn.Parameter(np.zeros((1000, 500)))
    assert fill(weight) is weight
    assert abs(weight.data.mean()) < 0.01 * expected_std
    np.testing.assert_allclose(weight.data.std(), expected_std, rtol=0.01)


def test_init_constants_fans_and_gains():
    array = np.empty((4, 3, 2, 2))
    assert nn.init.fan_in_and_fan_out(array) == (12, 16)
    assert np.all(nn.init.zeros_(array) == 0) and np.all(nn.init.ones_(nn.Parameter(array)).data == 1)
    assert nn.init.calculate_gain("relu") == math.sqrt(2)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    assert nn.init.calculate_gain("tanh") == 5 / 3 and nn.init.calculate_gain("conv2d") == 1
    with pytest.raises(ValueError, match="unknown nonlinearity 'gelu'"):
        nn.init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(np.zeros(3))


def test_init_is_deterministic_given_a_seed_or_a_generator():
    first = small_cnn(seed=7).state_dict()
    second = small_cnn(seed=7).state_dict()
    other = small_cnn(seed=8).state_dict()
    assert all(np.array_equal(first[name], second[name]) for name in first)
    assert not np.array_equal(first["0.weight"], other["0.weight"])

    sg.manual_seed(0)
    expected_next = sg.autograd.default_generator().random()
    sg.manual_seed(0)
    a = nn.Linear(3, 2, generator=np.random.default_rng(5))
    assert sg.autograd.default_generator().random() == expected_next  # the default generator was not used
    b = nn.Linear(3, 2, generator=np.random.default_rng(5))
    assert np.array_equal(a.weight.data, b.weight.data)


# ------------------------------------------------------------------------- functional and training
def test_functional_reexports_the_autograd_functions():
    assert F.relu is ops.relu and F.log_softmax is ops.log_softmax
    assert F.mse_loss is losses.mse_loss and F.cross_entropy is losses.cross_entropy
    assert F.conv2d is nn_ops.conv2d and F.batch_norm is nn_ops.batch_norm and F.interpolate is nn_ops.interpolate
    assert all(callable(getattr(F, name)) for name in F.__all__)


def test_gradients_reach_every_parameter_of_a_small_cnn():
    model = small_cnn(seed=0)
    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32)
    loss = losses.cross_entropy(model(x), np.array([0, 1, 2, 0]))
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.shape == param.shape and np.any(param.grad != 0), name


def test_checkpoints_keep_text_entries_without_pickle(tmp_path):
    path = tmp_path / "meta.npz"
    nn.save_checkpoint(path, meta={"dataset": np.array("fashion-mnist"), "epoch": np.array(3)})
    meta = nn.load_checkpoint(path)["meta"]
    assert str(meta["dataset"]) == "fashion-mnist" and int(meta["epoch"]) == 3
