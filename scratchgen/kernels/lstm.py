"""The LSTM of PixelRNN (eq. 3 of van den Oord et al. 2016) run over a whole sequence of steps, forward and backward.

Both of PixelRNN's LSTM layers are one recurrence over T steps (the rows of the Row LSTM, the
skewed columns of the Diagonal BiLSTM), each step a line of L positions (its width or height):

    gates_from_input  (T, N, L, 4h)  K_is * x_t, the input-to-state pre-activations of each step
    state_weight      (4h, k h)      K_ss, a convolution along L of the previous step's hidden state:
                                     the state at l + d for each offset d of ``offsets`` (zero where
                                     that falls outside the line), k = len(offsets) of them side by
                                     side on the last axis, times state_weight^T (laid out as a
                                     linear layer's weight, (out_features, in_features))
    hidden0, cell0    (N, L, h)      the state before step 0

The 4h gate pre-activations are laid out [o, f, i, g]. The forward pass returns the hidden and
cell states of every step, (T, N, L, h) each, and the gates after their nonlinearities
(T, N, L, 4h), which the backward pass (backpropagation through time) reads.

``lstm_scan_forward_numpy`` and ``lstm_scan_backward_numpy`` are eq. 3 written line by line.
"""
import numpy as np

from ._numba import kernel_array, njit


def _sigmoid(x):
    return 0.5 + 0.5 * np.tanh(0.5 * x)  # = 1 / (1 + exp(-x)), which overflows exp for very negative x


def shifted_copies(hidden, offsets):
    """(..., L, k h) from hidden (..., L, h): at l, hidden[..., l + d, :] for each offset d in turn, zero outside."""
    length, size = hidden.shape[-2:]
    copies = np.zeros(hidden.shape[:-1] + (len(offsets) * size,), hidden.dtype)
    for j, d in enumerate(offsets):
        lo = min(length, max(0, -d))
        hi = max(lo, min(length, length - d))
        copies[..., lo:hi, j * size:(j + 1) * size] = hidden[..., lo + d:hi + d, :]
    return copies


def shifted_copies_adjoint(grad_copies, offsets):
    """The transpose of ``shifted_copies``: each copy's gradient (..., L, k h) sent back to where it was read."""
    length, size = grad_copies.shape[-2], grad_copies.shape[-1] // len(offsets)
    grad = np.zeros(grad_copies.shape[:-1] + (size,), grad_copies.dtype)
    for j, d in enumerate(offsets):
        lo = min(length, max(0, -d))
        hi = max(lo, min(length, length - d))
        grad[..., lo + d:hi + d, :] += grad_copies[..., lo:hi, j * size:(j + 1) * size]
    return grad


def lstm_scan_forward_numpy(gates_from_input, state_weight, offsets, hidden0, cell0):
    """Plain-NumPy twin of lstm_scan_forward: (hidden, cell, gates) of every step."""
    size = state_weight.shape[0] // 4
    gates = np.empty(gates_from_input.shape, gates_from_input.dtype)
    hidden = np.empty(gates.shape[:-1] + (size,), gates.dtype)
    cell = np.empty_like(hidden)
    h, c = hidden0, cell0
    for t in range(len(gates_from_input)):
        pre = gates_from_input[t] + shifted_copies(h, offsets) @ state_weight.T
        o, f, i, g = np.split(pre, 4, axis=-1)
        o, f, i = _sigmoid(o), _sigmoid(f), _sigmoid(i)
        g = np.tanh(g)  # tanh, not a sigmoid: the content must be able to lower the cell state
        c = f * c + i * g
        h = o * np.tanh(c)
        gates[t], hidden[t], cell[t] = np.concatenate([o, f, i, g], axis=-1), h, c
    return hidden, cell, gates


def lstm_scan_backward_numpy(grad_hidden, grad_cell, gates, hidden, cell, state_weight, offsets, hidden0, cell0):
    """Plain-NumPy twin of lstm_scan_backward: the gradients of gates_from_input, state_weight, hidden0, cell0.

    ``grad_hidden`` and ``grad_cell`` (T, N, L, h) are dL/dh_t and dL/dc_t from outside the scan;
    the recurrence adds what each step sends back to the one before it.
    """
    size = state_weight.shape[0] // 4
    grad_pre = np.empty_like(gates)  # dL/d(pre-activations) = dL/d gates_from_input
    grad_h, grad_c = np.zeros_like(hidden0), np.zeros_like(cell0)  # from step t + 1 to step t
    for t in reversed(range(len(gates))):
        o, f, i, g = np.split(gates[t], 4, axis=-1)
        c_prev = cell[t - 1] if t else cell0
        tanh_c = np.tanh(cell[t])
        dh = grad_hidden[t] + grad_h
        dc = grad_cell[t] + grad_c + dh * o * (1 - tanh_c ** 2)  # h = o tanh(c): dh/dc = o (1 - tanh(c)^2)
        grad_pre[t] = np.concatenate([
            dh * tanh_c * o * (1 - o),  # dh/do = tanh(c), do/d pre = o (1 - o)
            dc * c_prev * f * (1 - f),  # dc/df = c_{t-1}
            dc * g * i * (1 - i),       # dc/di = g
            dc * i * (1 - g ** 2),      # dc/dg = i, dg/d pre = 1 - g^2
        ], axis=-1)
        grad_c = dc * f  # dc/dc_{t-1} = f
        grad_h = shifted_copies_adjoint(grad_pre[t] @ state_weight, offsets)  # pre = copies(h_{t-1}) W^T + ...
    previous_hidden = np.concatenate([hidden0[None], hidden[:-1]])
    copies = shifted_copies(previous_hidden, offsets).reshape(-1, state_weight.shape[1])
    grad_weight = grad_pre.reshape(-1, 4 * size).T @ copies  # summed over every step and position
    return grad_pre, grad_weight, grad_h, grad_c


# ------------------------------------------------------------------------- the fast path
# Per step, BLAS computes the state-to-state product and NumPy the tanh (Numba's tanh is scalar, ~40x
# slower than NumPy's SIMD one); one Numba kernel on each side of the tanh does the rest of the step
# in one pass: gather the shifted products and add the input's, then the gates and the cell state.
# The sigmoids are tanh too: sigmoid(x) = 0.5 + 0.5 tanh(x / 2). Backwards, each step is one GEMM and
# one kernel, the tanh(c) of every step computed by NumPy before the loop. The kernels are serial: a
# step's arrays are small (N L 4h = 115k values for PixelRNN's defaults), and waking the thread
# pool twice per step, between BLAS calls that use both cores, measured slower.


@njit(cache=True)
def _pre_activations_kernel(gates_from_input, from_state, offsets, pre):
    """pre[n, p] = gates_from_input[n, p] + sum over j of from_state[n, p + d_j, j], o f i halved for tanh."""
    lines, length, width = pre.shape
    three_h = 3 * (width // 4)
    for n in range(lines):
        for p in range(length):
            for q in range(width):
                pre[n, p, q] = gates_from_input[n, p, q]
            for j in range(offsets.size):
                source = p + offsets[j]
                if 0 <= source < length:
                    for q in range(width):
                        pre[n, p, q] += from_state[n, source, j, q]
            for q in range(three_h):
                pre[n, p, q] *= 0.5


@njit(cache=True)
def _cell_kernel(cell_prev, gates, cell):
    """gates holds [tanh(o/2), tanh(f/2), tanh(i/2), tanh(g)]: turn them into [o, f, i, g] in place, and c."""
    lines, length, size = cell.shape
    for n in range(lines):
        for p in range(length):
            for u in range(size):
                o = 0.5 + 0.5 * gates[n, p, u]
                f = 0.5 + 0.5 * gates[n, p, size + u]
                i = 0.5 + 0.5 * gates[n, p, 2 * size + u]
                g = gates[n, p, 3 * size + u]
                gates[n, p, u], gates[n, p, size + u], gates[n, p, 2 * size + u] = o, f, i
                cell[n, p, u] = f * cell_prev[n, p, u] + i * g


@njit(cache=True)
def _backward_step_kernel(grad_hidden, grad_cell, grad_copies, offsets, gates, tanh_c, cell_prev, grad_c, grad_pre):
    """One step back in time: dL/d pre-activations into grad_pre, and grad_c becomes dL/dc_{t-1}.

    dL/dh_t is grad_hidden plus what step t + 1 read from h_t: grad_copies (its dL/d copies)
    gathered from p - d_j.
    """
    lines, length, size = grad_hidden.shape
    for n in range(lines):
        for p in range(length):
            for u in range(size):
                dh = grad_hidden[n, p, u]
                for j in range(offsets.size):
                    reader = p - offsets[j]
                    if 0 <= reader < length:
                        dh += grad_copies[n, reader, j * size + u]
                o, f = gates[n, p, u], gates[n, p, size + u]
                i, g = gates[n, p, 2 * size + u], gates[n, p, 3 * size + u]
                tc = tanh_c[n, p, u]
                dc = grad_cell[n, p, u] + grad_c[n, p, u] + dh * o * (1 - tc * tc)
                grad_pre[n, p, u] = dh * tc * o * (1 - o)
                grad_pre[n, p, size + u] = dc * cell_prev[n, p, u] * f * (1 - f)
                grad_pre[n, p, 2 * size + u] = dc * g * i * (1 - i)
                grad_pre[n, p, 3 * size + u] = dc * i * (1 - g * g)
                grad_c[n, p, u] = dc * f


def _weight_by_offset(state_weight, offsets):
    """K_ss as (h, k 4h): h_{t-1} (N L, h) times it gives, side by side, h_{t-1} times each offset's block of K_ss^T."""
    four_h, k = state_weight.shape[0], len(offsets)
    return np.ascontiguousarray(state_weight.reshape(four_h, k, -1).transpose(2, 1, 0).reshape(-1, k * four_h))


def lstm_scan_forward(gates_from_input, state_weight, offsets, hidden0, cell0):
    """(hidden, cell, gates) of every step; see the module docstring for the shapes."""
    gates_from_input, hidden0, cell0 = (kernel_array(a) for a in (gates_from_input, hidden0, cell0))
    steps, lines, length, width = gates_from_input.shape
    size = width // 4
    weight = _weight_by_offset(state_weight, offsets)
    offsets = np.asarray(offsets, dtype=np.int64)
    gates = np.empty_like(gates_from_input)
    hidden = np.empty((steps, lines, length, size), gates.dtype)
    cell = np.empty_like(hidden)
    h, c = hidden0, cell0
    for t in range(steps):
        from_state = (h.reshape(-1, size) @ weight).reshape(lines, length, len(offsets), width)
        _pre_activations_kernel(gates_from_input[t], from_state, offsets, gates[t])
        np.tanh(gates[t], out=gates[t])
        _cell_kernel(c, gates[t], cell[t])
        np.tanh(cell[t], out=hidden[t])
        np.multiply(gates[t, ..., :size], hidden[t], out=hidden[t])
        h, c = hidden[t], cell[t]
    return hidden, cell, gates


def lstm_scan_backward(grad_hidden, grad_cell, gates, hidden, cell, state_weight, offsets, hidden0, cell0):
    """Gradients of gates_from_input, state_weight, hidden0 and cell0, through time from the last step."""
    grad_hidden, grad_cell, hidden0, cell0 = (kernel_array(a) for a in (grad_hidden, grad_cell, hidden0, cell0))
    state_weight = kernel_array(state_weight)
    steps, size = len(gates), state_weight.shape[0] // 4
    tanh_c = np.tanh(cell)
    grad_pre = np.empty_like(gates)
    grad_c = np.zeros_like(cell0)
    grad_copies = np.zeros(cell0.shape[:-1] + (state_weight.shape[1],), cell0.dtype)  # none after the last step
    offset_array = np.asarray(offsets, dtype=np.int64)
    for t in reversed(range(steps)):
        _backward_step_kernel(grad_hidden[t], grad_cell[t], grad_copies, offset_array, gates[t], tanh_c[t],
                              cell[t - 1] if t else cell0, grad_c, grad_pre[t])
        np.dot(grad_pre[t].reshape(-1, 4 * size), state_weight, out=grad_copies.reshape(-1, state_weight.shape[1]))
    previous_hidden = np.concatenate([hidden0[None], hidden[:-1]])
    copies = shifted_copies(previous_hidden, offsets).reshape(-1, state_weight.shape[1])
    grad_weight = grad_pre.reshape(-1, 4 * size).T @ copies
    return grad_pre, grad_weight, shifted_copies_adjoint(grad_copies, offsets), grad_c
