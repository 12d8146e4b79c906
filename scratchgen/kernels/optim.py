"""Fused optimizer updates: one pass over a parameter instead of NumPy's chain of temporaries.

Adam's update reads the gradient and both moments and writes them back with the parameter;
NumPy spends about ten full-size passes and four temporaries on it, this kernel one pass.
Arrays are updated in place; the rare non-contiguous one takes the NumPy twin.
"""
import math

import numpy as np

from ._numba import prange, serial_and_parallel


@serial_and_parallel
def _adam_kernel(param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size, bias_correction2_sqrt, eps):
    for i in prange(param.size):
        g = grad[i]
        m = beta1 * exp_avg[i] + (1 - beta1) * g
        v = beta2 * exp_avg_sq[i] + (1 - beta2) * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] -= step_size * m / (math.sqrt(v) / bias_correction2_sqrt + eps)


def adam_update(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, step):
    """One Adam step at step number ``step`` (from 1), in place on param, exp_avg and exp_avg_sq:

        m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2
        theta <- theta - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """
    if not all(a.flags.c_contiguous for a in (param, exp_avg, exp_avg_sq)):
        return adam_update_numpy(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, step)
    grad = np.ascontiguousarray(grad, dtype=param.dtype).reshape(-1)
    _adam_kernel(param.reshape(-1), grad, exp_avg.reshape(-1), exp_avg_sq.reshape(-1), float(beta1), float(beta2),
                 lr / (1 - beta1 ** step), math.sqrt(1 - beta2 ** step), float(eps))


def adam_update_numpy(param, grad, exp_avg, exp_avg_sq, lr, beta1, beta2, eps, step):
    """Plain-NumPy twin of adam_update."""
    exp_avg *= beta1
    exp_avg += (1 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    step_size = lr / (1 - beta1 ** step)
    denominator = np.sqrt(exp_avg_sq) / math.sqrt(1 - beta2 ** step) + eps
    param -= step_size * (exp_avg / denominator)
