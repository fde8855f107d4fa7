"""Keras's Adam step in one pass over each tensor, on the CPU (``kernels/update_cpu.cpp``).

PyTorch's foreach form of the step reads and writes each weight-sized tensor seven times, and the
finite-weights guard reads the new weights once more; the compiled pass reads the weight, its
gradient and both moments once, writes the three new tensors once, and says whether the new
weights are finite. It rounds each value as PyTorch's x86 CPU kernels do (AVX2 and AVX-512),
operation by operation (see the C source), except the square root, which it rounds correctly
where PyTorch's (MKL's) is within one unit in the last place: there the moments equal the foreach
form's bit for bit, and a weight differs from it in its last bit for 1 value in about 1,700 per
step. A step in place (``step``) and a proposed one (``propose``) both take the pass, so they
stay equal bit for bit. Without the compiled library, or where it was built without the
processor's fused multiply-add, the foreach form runs.
"""

from __future__ import annotations

import ctypes

import torch

from ..kernels import build

Tensors = list[torch.Tensor]
DTYPES = {torch.float32: 0, torch.float64: 1}


def runs_on(*tensor_lists: Tensors) -> bool:
    """Whether the pass can take these tensors: contiguous CPU tensors of one float dtype, and the
    library built."""
    tensors = [t for tensors in tensor_lists for t in tensors]
    dtype = tensors[0].dtype if tensors else None
    if dtype not in DTYPES or not all(t.device.type == "cpu" and t.dtype == dtype for t in tensors):
        return False
    if not all(t.is_contiguous() for t in tensors):
        return False
    library = build.library()
    return library is not None and library.adam_has_fma


def adam(
    weights: Tensors,
    gradients: Tensors,
    m: Tensors,
    v: Tensors,
    into: tuple[Tensors, Tensors, Tensors],
    beta_1: float,
    beta_2: float,
    alpha: float,
    epsilon: float,
) -> bool:
    """Writes each weight's Adam step into ``into`` (new weights, new m, new v: the tensors
    themselves for a step in place, or others of their shapes), ``alpha`` the bias-corrected rate;
    whether every new weight is finite. Call where ``runs_on`` holds."""
    library = build.library()
    assert library is not None, "runs_on() admits calls only when the library is built"
    assert all(t.is_contiguous() for tensors in into for t in tensors), "the pass writes each tensor in order"
    args = build.AdamArgs()
    args.threads = torch.get_num_threads()
    args.beta_1, args.beta_2, args.alpha, args.epsilon = beta_1, beta_2, alpha, epsilon
    finite = True
    for i, w in enumerate(weights):
        args.dtype, args.size = DTYPES[w.dtype], w.numel()
        args.weights, args.gradients, args.m, args.v = (t.data_ptr() for t in (w, gradients[i], m[i], v[i]))
        args.new_weights, args.new_m, args.new_v = (t[i].data_ptr() for t in into)
        status = library.adam(ctypes.byref(args))
        if status not in (0, 1):
            raise RuntimeError(f"the compiled Adam step rejected its arguments (status {status})")
        finite = finite and status == 1
    for tensors in into:  # written behind autograd's back: a graph that saved them must see it
        torch.autograd.graph.increment_version(tensors)
    return finite
