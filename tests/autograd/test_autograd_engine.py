"""The engine: graph recording, accumulation, no_grad, detach, dtypes, errors, stability."""
import numpy as np
import pytest

import scratchgen as sg
from scratchgen.autograd.tensor import unbroadcast
from scratchgen.gradcheck import GradcheckError, gradcheck, gradcheck_projection


def test_readme_snippet_gradient():
    x = sg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])


def test_shared_node_gets_the_sum_of_its_consumers_gradients():
    # y = a*b + a*c with a reused: topological order must collect both paths before passing on.
    a = sg.tensor(2.0, requires_grad=True, dtype=np.float64)
    b = sg.tensor(3.0, requires_grad=True, dtype=np.float64)
    h = a * b          # used twice below
    y = h * h + sg.exp(h)
    y.backward()
    dh = 2 * 6.0 + np.exp(6.0)
    assert a.grad == pytest.approx(dh * 3.0)
    assert b.grad == pytest.approx(dh * 2.0)


def test_backward_twice_accumulates_exactly_twice():
    x = sg.tensor([0.5, -1.0], requires_grad=True, dtype=np.float64)
    y = (sg.tanh(x) * x).sum()
    y.backward()
    once = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * once)
    x.zero_grad()
    assert x.grad is None


def test_gradient_arrays_are_not_shared_between_leaves():
    a = sg.tensor([1.0, 2.0], requires_grad=True)
    b = sg.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad *= 0  # an optimizer changing one gradient in place must not change the other
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_no_grad_records_nothing_and_restores_the_mode():
    x = sg.tensor([1.0], requires_grad=True)
    with sg.no_grad():
        y = x * 2
        assert not sg.is_grad_enabled()
    assert sg.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_detach_cuts_the_graph():
    x = sg.tensor([1.0, 2.0], requires_grad=True)
    y = (x.detach() * x).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])  # only the non-detached factor contributes


def test_deep_chain_does_not_hit_the_recursion_limit():
    x = sg.tensor(1.0, requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001**5000)


def test_float32_is_the_default_and_float64_on_request():
    assert sg.tensor([1, 2]).dtype == np.float32
    # A float NumPy array keeps its dtype (tests/autograd/test_dtypes.py).
    assert sg.tensor(np.ones(3)).dtype == np.float64
    assert sg.tensor(np.ones(3), dtype=np.float64).dtype == np.float64
    x = sg.tensor([1.0], dtype=np.float64)
    assert (x * 2).dtype == np.float64 and (2 * x).dtype == np.float64
    x32 = sg.tensor([1.0], requires_grad=True)
    (x32 * np.float64(3.0)).sum().backward()
    assert x32.grad.dtype == np.float32


@pytest.mark.parametrize("bad", [np.array([1, 2]), np.array([True]), np.array(["a"]), np.array([1 + 2j])])
def test_non_float_arrays_are_rejected_with_what_is_accepted(bad):
    with pytest.raises(TypeError, match="float32 or float64"):
        sg.tensor(bad)


def test_unsupported_dtype_request_is_rejected():
    with pytest.raises(TypeError, match="float32 or float64"):
        sg.tensor([1.0], dtype=np.float16)


def test_backward_on_non_scalar_needs_a_gradient():
    x = sg.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\)"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))


@pytest.mark.parametrize("op", [sg.add, sg.mul, sg.sub, sg.div, sg.maximum])
def test_broadcast_mismatch_names_the_op_and_both_shapes(op):
    with pytest.raises(ValueError, match=rf"{op.__name__}: shapes \(2, 3\) and \(4,\)"):
        op(sg.tensor(np.ones((2, 3))), sg.tensor(np.ones(4)))


def test_matmul_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        sg.matmul(sg.tensor(np.ones((2, 3))), sg.tensor(np.ones((4, 5))))
    with pytest.raises(ValueError, match=r"matmul: batch axes"):
        sg.matmul(sg.tensor(np.ones((2, 3, 4))), sg.tensor(np.ones((3, 4, 5))))


def test_concatenate_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"concatenate: shapes \(2, 3\), \(2, 4\)"):
        sg.concatenate([sg.tensor(np.ones((2, 3))), sg.tensor(np.ones((2, 4)))], axis=0)


def test_reshape_and_loss_shape_errors():
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"):
        sg.tensor(np.ones((2, 3))).reshape(4, 2)
    with pytest.raises(ValueError, match="mse_loss: input shape"):
        sg.mse_loss(sg.tensor(np.ones(3)), sg.tensor(np.ones(4)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        sg.mse_loss(sg.tensor(np.ones(3)), sg.tensor(np.ones(3)), reduction="avg")


@pytest.mark.parametrize(
    "shape, target, expected",
    [((2, 3), (3,), [2.0, 2.0, 2.0]), ((2, 3), (2, 1), [[3.0], [3.0]]), ((4, 2, 3), (1, 3), [[8.0, 8.0, 8.0]]),
     ((2, 3), (), 6.0)],
)
def test_unbroadcast_sums_the_stretched_axes(shape, target, expected):
    np.testing.assert_array_equal(unbroadcast(np.ones(shape), target), expected)


def test_stable_forms_survive_extreme_inputs():
    x = sg.tensor([-1000.0, 0.0, 1000.0], requires_grad=True)
    np.testing.assert_allclose(sg.sigmoid(x).data, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(sg.softplus(x).data, [0.0, np.log(2), 1000.0])
    np.testing.assert_allclose(sg.log_sigmoid(x).data, [-1000.0, -np.log(2), 0.0])
    np.testing.assert_allclose(sg.logsumexp(x).data, 1000.0)
    loss = sg.binary_cross_entropy_with_logits(x, sg.tensor([1.0, 1.0, 0.0]), reduction="sum")
    assert loss.item() == pytest.approx(1000.0 + np.log(2) + 1000.0)
    loss.backward()
    np.testing.assert_allclose(x.grad, [-1.0, -0.5, 1.0])  # s(x) - y, finite at both extremes


def test_gradcheck_catches_a_wrong_derivative():
    def wrong_square(x):
        y = x.data ** 2
        return sg.Tensor.from_op(y, (x,), lambda g: (g * x.data,), "wrong_square")  # should be 2x

    x = np.array([0.3, -1.2, 2.0])
    with pytest.raises(GradcheckError, match="disagrees"):
        gradcheck(wrong_square, [x])
    with pytest.raises(GradcheckError, match="disagrees"):
        gradcheck_projection(wrong_square, [x])


def test_gradcheck_refuses_a_vacuous_check():
    # relu of negative numbers has zero gradient, analytically and numerically: proves nothing.
    with pytest.raises(GradcheckError, match="vacuous"):
        gradcheck(sg.relu, [np.array([-1.0, -2.0])])
    with pytest.raises(GradcheckError, match="vacuous"):
        gradcheck_projection(sg.relu, [np.array([-1.0, -2.0])])


def test_gradcheck_uses_random_not_all_ones_upstream_gradient():
    # With an all-ones upstream gradient softmax's backward would be zero whatever it computed.
    def softmax_with_zero_backward(x):
        y = sg.softmax(x).data
        return sg.Tensor.from_op(y, (x,), lambda g: (np.zeros_like(g),), "broken_softmax")

    with pytest.raises(GradcheckError):
        gradcheck(softmax_with_zero_backward, [np.array([0.1, 0.5, -0.3])])


def test_projection_check_covers_a_small_mlp():
    rng = np.random.default_rng(0)
    x, w1, w2 = rng.standard_normal((5, 4)), rng.standard_normal((4, 6)), rng.standard_normal((6, 1))
    target = rng.uniform(size=(5, 1))

    def loss(w1, w2):
        return sg.binary_cross_entropy_with_logits(sg.silu(sg.tensor(x, dtype=np.float64) @ w1) @ w2, target)

    assert gradcheck_projection(loss, [w1, w2], directions=4)


def test_tensor_methods_and_operators():
    x = sg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, dtype=np.float64)
    y = ((1 - x) / 2 + x.T.T * 3 - (-x) ** 2).mean(axis=1).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, (-0.5 + 3 - 2 * x.data) / 3)
    assert (x > 2).tolist() == [[False, False, False], [True, True, True]]
    assert x[1, 2].item() == 5.0
    with pytest.raises(ValueError, match="one element"):
        x.item()


@pytest.mark.parametrize("op", [sg.matmul, sg.mul])
def test_gradient_of_one_operand_when_the_other_is_constant(op):
    """Ops skip the gradient of an operand that does not require one; the other's is unchanged."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    upstream = rng.standard_normal((3, 3))
    both = [sg.tensor(a, requires_grad=True), sg.tensor(b, requires_grad=True)]
    op(*both).backward(upstream)
    for constant in (0, 1):
        inputs = [sg.tensor(a, requires_grad=True), sg.tensor(b, requires_grad=True)]
        inputs[constant].requires_grad_(False)
        op(*inputs).backward(upstream)
        assert inputs[constant].grad is None
        np.testing.assert_array_equal(inputs[1 - constant].grad, both[1 - constant].grad)
