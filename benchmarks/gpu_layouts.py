"""The feed-forward networks on a GPU in each precision and memory layout, and torch's GroupNorm
against `operators.norms.layer_norm_2d`: the figures behind the operators' choices on CUDA (fp16,
the contiguous layout, the layer norm). `gpu_check.py` prints these tables too.

    python benchmarks/gpu_layouts.py            # needs CUDA; --device cpu --small tries it here
"""
from __future__ import annotations

import argparse
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from bench_pipeline import seconds_per_call

from operators.animegan import Generator
from operators.fast_nst import TransformerNet
from operators.norms import LayerNorm2d, layer_norm_2d

LAYOUTS = {"contiguous": torch.contiguous_format, "channels-last": torch.channels_last}
NETWORKS: dict[str, Callable[[], nn.Module]] = {"animegan": Generator, "fast-nst": TransformerNet}


def with_torch_group_norm(net: nn.Module) -> nn.Module:
    """`net` with every LayerNorm2d computed by torch's own GroupNorm kernel, as before."""
    for module in net.modules():
        if isinstance(module, LayerNorm2d):
            module.forward = nn.GroupNorm.forward.__get__(module)
    return net


def norm_table(device: torch.device, shapes: list[tuple[int, ...]], dtype: torch.dtype) -> str:
    rows = ["| activation (N, C, H, W) | torch GroupNorm, channels-last ms | torch GroupNorm, contiguous ms | "
            "layer_norm_2d ms |", "|---|---|---|---|"]
    for shape in shapes:
        x = torch.randn(*shape, device=device, dtype=dtype)
        weight, bias = torch.randn(shape[1], device=device, dtype=dtype), torch.randn(shape[1], device=device, dtype=dtype)
        last = x.contiguous(memory_format=torch.channels_last)
        ms = [1000 * seconds_per_call(lambda t=t: F.group_norm(t, 1, weight, bias), device, 10) for t in (last, x)]
        ms.append(1000 * seconds_per_call(lambda: layer_norm_2d(x, weight, bias, 1e-5), device, 10))
        rows.append(f"| {shape} | " + " | ".join(f"{v:.2f}" for v in ms) + " |")
    return "\n".join(rows)


def images_per_second(net: nn.Module, batch: tuple[int, int, int], dtype: torch.dtype,
                      memory_format: torch.memory_format, device: torch.device) -> float:
    """`net`'s bare forward pass on a random batch (N, H, W) in `dtype` and `memory_format`."""
    n, h, w = batch
    net = net.to(device, dtype=dtype, memory_format=memory_format).eval()
    x = torch.rand(n, 3, h, w, device=device).to(dtype=dtype, memory_format=memory_format)
    with torch.inference_mode():
        return n / seconds_per_call(lambda: net(x), device, 3)


def network_table(device: torch.device, batches: list[tuple[int, int, int]], dtypes: list[torch.dtype]) -> str:
    rows = ["| network | batch | precision | layout | images/s |", "|---|---|---|---|---|"]
    for name, build in NETWORKS.items():
        for n, h, w in batches:
            for dtype in dtypes:
                for layout, memory_format in LAYOUTS.items():
                    rate = images_per_second(build(), (n, h, w), dtype, memory_format, device)
                    rows.append(f"| {name} | {n}x{w}x{h} | {str(dtype)[6:]} | {layout} | {rate:.1f} |")
            if name == "animegan":  # as the operator ran before: torch's GroupNorm kernel, channels-last
                rate = images_per_second(with_torch_group_norm(build()), (n, h, w), dtypes[0], torch.channels_last,
                                         device)
                rows.append(f"| {name}, torch GroupNorm | {n}x{w}x{h} | {str(dtypes[0])[6:]} | channels-last | "
                            f"{rate:.1f} |")
    return "\n".join(rows)


def tables(device: torch.device, small: bool = False) -> str:
    dtypes = [torch.float16, torch.bfloat16, torch.float32] if device.type == "cuda" else [torch.float32]
    shapes = [(1, 8, 32, 32)] if small else [(4, 64, 1080, 1920), (4, 32, 1080, 1920), (16, 64, 256, 256)]
    batches = [(1, 64, 64)] if small else [(16, 512, 512), (4, 1080, 1920), (1, 1080, 1920)]
    return norm_table(device, shapes, dtypes[0]) + "\n\n" + network_table(device, batches, dtypes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--small", action="store_true", help="tiny sizes (to try the script)")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "the CPU"
    print(f"{name}, torch {torch.__version__}\n\n{tables(device, args.small)}")


if __name__ == "__main__":
    main()
