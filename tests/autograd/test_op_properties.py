"""Property tests generated for every op in the registry (scratchgen.OPS).

For each op, over hypothesis-drawn shapes (broadcastable ones for binary ops), axes and
arguments, the checks of ``scratchgen.testing`` that users run on their own ops: the float64
forward pass matches a plain-NumPy expression, the float32 pass matches the float64 one, inputs
are never modified (``check_forward``), and the gradient matches central finite differences for a
random upstream gradient, with every non-empty subset of the inputs requiring gradients (frozen
inputs, like a network's frozen weights, must get no gradient and must not change the others'),
in float64 and float32 (``check_backward``).
"""
import pytest
from hypothesis import given, strategies as st

import scratchgen as sg
from layer_op_specs import LAYER_SPECS
from op_specs import SPECS as CORE_SPECS
from scratchgen.testing import check_backward, check_forward

SPECS = {**CORE_SPECS, **LAYER_SPECS}


def test_every_registered_op_has_a_property_spec():
    missing = sorted(set(sg.OPS) - set(SPECS))
    stale = sorted(set(SPECS) - set(sg.OPS))
    assert not missing, ("ops without property tests (add them to tests/autograd/op_specs.py or layer_op_specs.py): "
                         f"{missing}")
    assert not stale, f"specs for ops that are no longer registered: {stale}"


@pytest.mark.parametrize("name", sorted(SPECS))
@given(data=st.data())
def test_forward_matches_numpy_reference(name, data):
    spec = SPECS[name]
    arrays, kwargs = spec.draw(data)
    check_forward(sg.OPS[name], spec.reference, arrays, kwargs, call=spec.call, float32_rtol=spec.float32_rtol)


@pytest.mark.parametrize("name", sorted(SPECS))
@given(data=st.data())
def test_backward_matches_finite_differences(name, data):
    spec = SPECS[name]
    arrays, kwargs = spec.draw(data)
    check_backward(sg.OPS[name], arrays, kwargs, call=spec.call, float32_rtol=spec.float32_rtol,
                   expect_zero=spec.zero_gradients(arrays, kwargs))
