"""Property tests generated for every op in the registry (scratchgen.OPS).

For each op, over hypothesis-drawn shapes (broadcastable ones for binary ops), axes and
arguments: the float64 forward pass matches a plain-NumPy expression, the float32 pass matches
the float64 one, inputs are never modified, and the gradient matches central finite differences
for a random upstream gradient, with every non-empty subset of the inputs requiring gradients
(frozen inputs, like a network's frozen weights, must get no gradient and must not change the
others').
"""
import itertools

import numpy as np
import pytest
from hypothesis import given, note, strategies as st

import scratchgen as sg
from layer_op_specs import LAYER_SPECS
from op_specs import SPECS as CORE_SPECS
from scratchgen.gradcheck import gradcheck

SPECS = {**CORE_SPECS, **LAYER_SPECS}


def as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def run(name, arrays, kwargs, dtype, requires_grad=False):
    spec = SPECS[name]
    tensors = [sg.tensor(a, dtype=dtype, requires_grad=requires_grad) for a in arrays]
    return tensors, as_list(spec.call(sg.OPS[name], tensors, kwargs))


def test_every_registered_op_has_a_property_spec():
    missing = sorted(set(sg.OPS) - set(SPECS))
    stale = sorted(set(SPECS) - set(sg.OPS))
    assert not missing, ("ops without property tests (add them to tests/autograd/op_specs.py or layer_op_specs.py): "
                         f"{missing}")
    assert not stale, f"specs for ops that are no longer registered: {stale}"


@pytest.mark.parametrize("name", sorted(SPECS))
@given(data=st.data())
def test_forward_matches_numpy_reference(name, data):
    arrays, kwargs = SPECS[name].draw(data)
    originals = [a.copy() for a in arrays]
    _, outs64 = run(name, arrays, kwargs, np.float64)
    expected = as_list(SPECS[name].reference(*arrays, **kwargs))
    assert len(outs64) == len(expected)
    for out, ref in zip(outs64, expected):
        assert out.dtype == np.float64
        assert out.shape == np.shape(ref)
        np.testing.assert_allclose(out.data, ref, rtol=1e-9, atol=1e-12)
    _, outs32 = run(name, arrays, kwargs, np.float32)
    for out32, out64 in zip(outs32, outs64):
        assert out32.dtype == np.float32, f"{name} promoted float32 inputs to {out32.dtype}"
        np.testing.assert_allclose(out32.data, out64.data, rtol=SPECS[name].float32_rtol, atol=1e-5)
    for before, after in zip(originals, arrays):
        np.testing.assert_array_equal(before, after)


def nonempty_subsets(count):
    return [subset for size in range(1, count + 1) for subset in itertools.combinations(range(count), size)]


def check_gradients_of_subset(name, arrays, kwargs, trainable):
    """gradcheck with only the inputs at positions ``trainable`` requiring gradients; the others get none."""
    spec = SPECS[name]
    frozen = {k: sg.tensor(a, dtype=np.float64) for k, a in enumerate(arrays) if k not in trainable}

    def fn(*trainable_tensors):
        given_tensors = iter(trainable_tensors)
        tensors = [frozen[k] if k in frozen else next(given_tensors) for k in range(len(arrays))]
        return spec.call(sg.OPS[name], tensors, kwargs)

    cut_off = spec.zero_gradients(arrays, kwargs)
    gradcheck(fn, [arrays[k] for k in trainable],
              expect_zero=[position for position, k in enumerate(trainable) if k in cut_off])
    assert all(tensor.grad is None for tensor in frozen.values()), "an input with requires_grad=False got a gradient"


@pytest.mark.parametrize("name", sorted(SPECS))
@given(data=st.data())
def test_backward_matches_finite_differences(name, data):
    spec = SPECS[name]
    arrays, kwargs = spec.draw(data)
    originals = [a.copy() for a in arrays]
    for trainable in nonempty_subsets(len(arrays)):
        note(f"inputs requiring gradients: {trainable} of {len(arrays)}")
        check_gradients_of_subset(name, arrays, kwargs, trainable)
    for before, after in zip(originals, arrays):
        np.testing.assert_array_equal(before, after)

    # The float32 gradient agrees with the float64 one (same upstream gradient).
    upstreams = None
    grads = {}
    for dtype in (np.float64, np.float32):
        tensors, outs = run(name, arrays, kwargs, dtype, requires_grad=True)
        if upstreams is None:
            rng = np.random.default_rng(1)
            upstreams = [rng.standard_normal(o.shape) for o in outs]
        for out, u in zip(outs, upstreams):
            out.backward(u.astype(dtype))
        grads[dtype] = [t.grad for t in tensors]
    for g32, g64 in zip(grads[np.float32], grads[np.float64]):
        if g64 is None:
            assert g32 is None
            continue
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=spec.float32_rtol, atol=1e-4 * max(1.0, np.abs(g64).max()))
