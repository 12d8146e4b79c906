"""scratchgen.testing catches what it promises to catch, on ops and modules that are not scratchgen's:
a derivative missing a factor, an op that modifies its input or promotes float32, a vacuous
gradient check; and it stays a test-only module (hypothesis is not a dependency of scratchgen)."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scratchgen as sg
import scratchgen.nn as nn
from scratchgen.autograd import Tensor, as_tensor
from scratchgen.testing import GradcheckError, check_backward, check_forward, check_module, check_op, unary

PACKAGE = Path(sg.__file__).parent
EXAMPLE = PACKAGE.parent / "examples" / "test_my_op.py"


def np_mish(x):
    return x * np.tanh(np.log1p(np.exp(x)))


def mish_with_derivative(derivative):
    """Mish as a custom op whose backward multiplies g by ``derivative(x, tanh(softplus(x)))``."""
    def mish(x):
        x = as_tensor(x)
        t = np.tanh(np.logaddexp(0, x.data))
        return Tensor.from_op(x.data * t, (x,), lambda g: (g * derivative(x.data, t),), "mish")
    return mish


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


mish = mish_with_derivative(lambda x, t: t + x * (1 - t * t) * sigmoid(x))
mish_missing_sigmoid = mish_with_derivative(lambda x, t: t + x * (1 - t * t))


def test_check_op_passes_on_mish_and_catches_a_derivative_missing_a_factor():
    check_op(mish, np_mish, unary(-4, 4))
    with pytest.raises(GradcheckError, match="disagrees with finite differences"):
        check_op(mish_missing_sigmoid, np_mish, unary(-4, 4))


def test_check_forward_catches_a_wrong_forward_an_input_modified_and_float32_promoted():
    x = np.linspace(-2, 2, 7)
    check_forward(mish, np_mish, [x])
    with pytest.raises(AssertionError, match="differs from the reference"):
        check_forward(mish, lambda x: 1.001 * np_mish(x), [x])

    def mish_in_place(x):
        out = mish(x)
        x.data[...] = 0.0  # the tensor shares the caller's float64 array
        return out
    with pytest.raises(AssertionError, match="modified its input"):
        check_forward(mish_in_place, np_mish, [x])
    with pytest.raises(AssertionError, match="promoted to float64"):
        check_forward(lambda x: mish(x.double()), np_mish, [x])


def test_check_backward_refuses_a_vacuous_check_unless_the_zero_gradient_is_declared():
    x = np.array([-1.5, -0.5, 0.5])
    check_backward(lambda a, b: sg.where(a.data > 0, a, b), [x, x])
    negative = -np.abs(x)  # where() never picks a: a check of a's gradient would compare 0 with 0
    with pytest.raises(GradcheckError, match="vacuous"):
        check_backward(lambda a, b: sg.where(a.data > 0, a, b), [negative, x])
    check_backward(lambda a, b: sg.where(a.data > 0, a, b), [negative, x], expect_zero=[0])


class Mish(nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, x):
        return self.function(x)


def test_check_module_catches_a_wrong_layer_and_leaves_the_module_as_it_was():
    sg.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((4, 3))
    network = nn.Sequential(nn.Linear(3, 5), Mish(mish), nn.Linear(5, 2))
    state = network.state_dict()
    check_module(network, [x])
    assert all(p.dtype == np.float32 for p in network.parameters())
    for name, array in network.state_dict().items():
        np.testing.assert_array_equal(array, state[name], err_msg=name)
    network[1] = Mish(mish_missing_sigmoid)
    with pytest.raises(GradcheckError, match="disagrees"):
        check_module(network, [x])


def test_the_example_of_docs_testing_md_passes():
    spec = importlib.util.spec_from_file_location("test_my_op", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    tests = [getattr(example, name) for name in dir(example) if name.startswith("test_")]
    assert len(tests) == 4
    for test in tests:
        test()


def test_scratchgen_does_not_import_hypothesis_and_testing_says_how_to_install_it():
    script = ("import sys\n"
              "import scratchgen\n"
              "assert not {'hypothesis', 'scratchgen.testing'} & set(sys.modules), sorted(sys.modules)\n"
              "sys.modules['hypothesis'] = None  # as if it were not installed\n"
              "try:\n"
              "    import scratchgen.testing\n"
              "except ImportError as error:\n"
              "    print(error)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == 'scratchgen.testing needs hypothesis: pip install "scratchgen[test]"\n'


def test_nothing_in_scratchgen_imports_testing():
    # `from . import testing`, `from scratchgen import testing`, `from .testing import`, `import scratchgen.testing`
    importing = re.compile(r"^\s*(from\s+(scratchgen|\.+)\s+import\s+.*\btesting\b"
                           r"|(from|import)\s+(scratchgen)?\.*testing\b)", re.M)
    offenders = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                 if path.name != "testing.py" and importing.search(path.read_text())]
    assert not offenders, f"scratchgen.testing is for tests only; imported by {offenders}"
