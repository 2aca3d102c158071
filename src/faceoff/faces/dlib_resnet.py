"""PyTorch port of dlib's face recognition ResNet (``dlib.face_recognition_model_v1``).

The weights are read straight from dlib's own model file (``dlib_face_recognition_resnet_model_v1.dat``,
shipped by face_recognition_models), so the identity loss needs no download and no conversion step,
and unlike dlib's C++ forward pass the port is differentiable.

The network is dlib's ``anet_type`` (dnn_face_recognition_ex.cpp): a 7x7/2 conv stem and 3x3/2
max pool, then 14 residual blocks of two 3x3 convs in four widths (32, 64, 128, 256), global
average pooling and a 128-d linear layer without bias. dlib conventions the port reproduces:

- input: RGB minus the per-channel means stored in the file (122.782, 117.001, 104.298), over 256;
- convs and pools pad ``size // 2`` when their stride is 1 and not at all when it is 2;
- batch norm was replaced by fixed per-channel affine layers (folded into the preceding conv here);
- a downsampling block adds the block output to a 2x2/2 average pool of its input; when the two
  differ in channels or size (32 -> 64 channels; 3x3 against 4x4 at the 256-wide level) dlib adds
  them zero-padded to the larger shape, at the high-index end.

File format (dlib's ``serialize``): integers are a control byte (bit 7 = sign, low nibble = byte
count) then that many little-endian bytes; strings are a length then the bytes; bools one ASCII
``'0'``/``'1'``; scalar floats an integer mantissa and integer exponent (value = m * 2**e);
tensors (version 2) ``n, k, nr, nc`` then raw little-endian float32s. The net is written
recursively: every wrapping layer's version number first (outermost first; tags and skips carry no
data), then the input layer, then each layer's details followed by its training state, from the
input side up.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 150
DESCRIPTOR_DIM = 128
_INPUT_LAYER = "input_rgb_image_sized"


class DlibFormatError(ValueError):
    """The file is not a dlib face-recognition ResNet this port understands."""


@dataclass(frozen=True)
class DlibLayer:
    """One computational layer of a dlib net: ``kind`` in con, affine, relu, max_pool, avg_pool,
    add_prev, fc; ``config`` holds its integer settings, ``arrays`` its parameters."""

    kind: str
    config: dict[str, int] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class DlibNet:
    """A parsed dlib DNN: input-layer channel means and size, layers from the input side up."""

    mean: tuple[float, float, float]
    size: tuple[int, int]
    layers: tuple[DlibLayer, ...]


class _Stream:
    """Sequential reader of dlib's serialization primitives."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"unexpected end of file at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size > 8:
            raise DlibFormatError(f"bad integer control byte {control:#x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def text(self) -> str:
        return self._take(self.integer()).decode("latin-1")

    def real(self) -> float:
        mantissa = self.integer()
        return float(np.ldexp(float(mantissa), self.integer()))

    def flag(self) -> bool:
        char = self._take(1)
        if char not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool {char!r} at byte {self.pos - 1}")
        return char == b"1"

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise DlibFormatError(f"unsupported tensor serialization version {version} at byte {self.pos}")
        shape = tuple(self.integer() for _ in range(4))  # n, k, nr, nc
        count = int(np.prod(shape))
        return np.frombuffer(self._take(4 * count), dtype="<f4").reshape(shape)

    def alias(self) -> tuple[int, ...]:
        version = self.integer()
        if version != 1:
            raise DlibFormatError(f"unsupported alias_tensor version {version} at byte {self.pos}")
        return tuple(self.integer() for _ in range(4))

    def expect(self, name: str) -> None:
        found = self.text()
        if found != name:
            raise DlibFormatError(f"expected {name!r}, found {found!r} at byte {self.pos}")


def _con(s: _Stream) -> DlibLayer:
    params = s.tensor().ravel()
    keys = ("filters", "nr", "nc", "stride_y", "stride_x", "pad_y", "pad_x")
    config = {key: s.integer() for key in keys}
    filters = s.alias()
    s.alias()  # the biases: the rest of params
    for _ in range(4):  # learning-rate and weight-decay multipliers
        s.real()
    n_weights = int(np.prod(filters))
    arrays = {"weight": params[:n_weights].reshape(filters), "bias": params[n_weights:]}
    if arrays["bias"].size != config["filters"]:
        raise DlibFormatError(f"con_ with {config['filters']} filters has {arrays['bias'].size} biases")
    return DlibLayer("con", config, arrays)


def _affine(s: _Stream) -> DlibLayer:
    params = s.tensor().ravel()
    gamma, _beta = s.alias(), s.alias()
    mode = s.integer()
    n = int(np.prod(gamma))
    if gamma[0] != 1 or gamma[2:] != (1, 1):
        raise DlibFormatError(f"only per-channel affine layers are supported, got gamma shape {gamma}")
    return DlibLayer("affine", {"mode": mode}, {"gamma": params[:n], "beta": params[n : 2 * n]})


def _pool(kind: str) -> Callable[[_Stream], DlibLayer]:
    def read(s: _Stream) -> DlibLayer:
        keys = ("nr", "nc", "stride_y", "stride_x", "pad_y", "pad_x")
        return DlibLayer(kind, {key: s.integer() for key in keys})

    return read


def _fc(s: _Stream) -> DlibLayer:
    config = {"outputs": s.integer(), "inputs": s.integer()}
    params = s.tensor().ravel()
    weights, _biases = s.alias(), s.alias()
    config["bias_mode"] = s.integer()
    for _ in range(4):
        s.real()
    n = int(np.prod(weights))
    arrays = {"weight": params[:n].reshape(config["inputs"], config["outputs"])}
    if params.size > n:
        arrays["bias"] = params[n : n + config["outputs"]]
    return DlibLayer("fc", config, arrays)


_READERS = {
    "con_4": _con,
    "affine_": _affine,
    "relu_": lambda s: DlibLayer("relu"),
    "max_pool_2": _pool("max_pool"),
    "avg_pool_2": _pool("avg_pool"),
    "add_prev_": lambda s: DlibLayer("add_prev"),
    "fc_2": _fc,
}


def _skip_training_state(s: _Stream, bottom: bool) -> None:
    """What dlib's add_layer writes after a layer's details: three flags and three tensors (gradients
    and cached outputs, empty in a cleaned net); the layer on the input also stores its sample
    expansion factor."""
    for _ in range(3):
        s.flag()
    for _ in range(3):
        s.tensor()
    if bottom:
        s.integer()


@functools.lru_cache(maxsize=4)
def parse_dlib_net(path: str) -> DlibNet:
    """Parse a dlib metric-learning DNN file (cached: the file is 22 MB and parsed once per process)."""
    with open(path, "rb") as f:
        s = _Stream(f.read())
    if s.integer() != 1:
        raise DlibFormatError(f"{path}: not a dlib add_loss_layer (version != 1)")
    s.expect("loss_metric_2")
    for _ in range(2):  # the loss's margin and distance threshold: training only
        s.real()
    while (version := s.integer()) != 3:  # wrapping layers down to the one on the input layer
        if version not in (1, 2):
            raise DlibFormatError(f"{path}: unexpected layer version {version} at byte {s.pos}")
    s.expect(_INPUT_LAYER)
    mean = (s.real(), s.real(), s.real())
    size = (s.integer(), s.integer())
    layers = []
    while s.pos < len(s.data):
        name = s.text()
        if name not in _READERS:
            raise DlibFormatError(f"{path}: unsupported dlib layer {name!r} at byte {s.pos}")
        layers.append(_READERS[name](s))
        _skip_training_state(s, bottom=len(layers) == 1)
    return DlibNet(mean, size, tuple(layers))


def _conv(con: DlibLayer, affine: DlibLayer) -> nn.Conv2d:
    """A conv with the following affine layer folded in: gamma * (w * x + b) + beta."""
    c = con.config
    weight, bias = con.arrays["weight"].astype(np.float32), con.arrays["bias"].astype(np.float32)
    gamma, beta = affine.arrays["gamma"], affine.arrays["beta"]
    if gamma.size != c["filters"]:
        raise DlibFormatError(f"affine layer of {gamma.size} channels after a {c['filters']}-filter conv")
    conv = nn.Conv2d(
        weight.shape[1],
        c["filters"],
        (c["nr"], c["nc"]),
        stride=(c["stride_y"], c["stride_x"]),
        padding=(c["pad_y"], c["pad_x"]),
    )
    conv.weight.data = torch.from_numpy(weight * gamma[:, None, None, None])
    conv.bias.data = torch.from_numpy(bias * gamma + beta)
    return conv


def _pool_args(pool: DlibLayer) -> dict[str, tuple[int, int]]:
    c = pool.config
    return {
        "kernel_size": (c["nr"], c["nc"]),
        "stride": (c["stride_y"], c["stride_x"]),
        "padding": (c["pad_y"], c["pad_x"]),
    }


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: the sum over the larger of the two shapes, the smaller one zero-padded at the end
    of each dimension (channels, rows, columns)."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(p, q) for p, q in zip(a.shape[1:], b.shape[1:], strict=True))

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return pad(a) + pad(b)


class _Residual(nn.Module):
    """relu(block(x) + skip(x)), block = conv-relu-conv; skip = identity or a 2x2 average pool."""

    def __init__(self, conv1: nn.Conv2d, conv2: nn.Conv2d, pool: DlibLayer | None) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv1, conv2
        self.pool = None if pool is None else nn.AvgPool2d(**_pool_args(pool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(F.relu(self.conv1(x)))
        return F.relu(add_zero_padded(y, x if self.pool is None else self.pool(x)))


class _Layers:
    """Cursor over the parsed layers that checks each has the kind the architecture expects."""

    def __init__(self, layers: tuple[DlibLayer, ...]) -> None:
        self.layers, self.i = layers, 0

    def peek(self) -> str | None:
        return self.layers[self.i].kind if self.i < len(self.layers) else None

    def take(self, kind: str) -> DlibLayer:
        if self.peek() != kind:
            raise DlibFormatError(
                f"layer {self.i}: expected {kind}, found {self.peek()} (not dlib's anet_type)"
            )
        self.i += 1
        return self.layers[self.i - 1]


class DlibResNet(nn.Module):
    """dlib's face recognition ResNet: ``forward(x)`` maps float RGB (N, 3, 150, 150) in 0..255 (an
    aligned face chip as dlib.get_face_chip makes them) to (N, 128) descriptors, as
    ``compute_face_descriptor`` does, but differentiably. The convolutional part accepts any size."""

    def __init__(self, net: DlibNet) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(net.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.input_size = net.size
        layers = _Layers(net.layers)
        stem = _conv(layers.take("con"), layers.take("affine"))
        layers.take("relu")
        self.stem = nn.Sequential(stem, nn.ReLU(), nn.MaxPool2d(**_pool_args(layers.take("max_pool"))))
        levels: list[list[_Residual]] = [[]]
        while layers.peek() == "con":
            conv1 = _conv(layers.take("con"), layers.take("affine"))
            layers.take("relu")
            conv2 = _conv(layers.take("con"), layers.take("affine"))
            pool = layers.take("avg_pool") if layers.peek() == "avg_pool" else None
            layers.take("add_prev")
            layers.take("relu")
            if pool is not None and levels[-1]:
                levels.append([])
            levels[-1].append(_Residual(conv1, conv2, pool))
        self.levels = nn.ModuleList(nn.Sequential(*level) for level in levels)
        if layers.take("avg_pool").config["nr"] != 0:
            raise DlibFormatError("expected global average pooling before the fc layer")
        fc = layers.take("fc")
        if layers.peek() is not None:
            raise DlibFormatError(f"unexpected layers after the fc layer: {layers.peek()}")
        self.fc = nn.Linear(fc.config["inputs"], fc.config["outputs"], bias="bias" in fc.arrays)
        self.fc.weight.data = torch.from_numpy(fc.arrays["weight"].T.astype(np.float32))
        if "bias" in fc.arrays:
            self.fc.bias.data = torch.from_numpy(fc.arrays["bias"].astype(np.float32))

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of the resolution levels before the last (widths 32, 64, 128, 256), for perceptual
        losses; x as for forward."""
        x = self.stem((x - self.mean) / 256)
        feats = []
        for level in self.levels[:-1]:
            x = level(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.levels[-1](self.stages(x)[-1])
        return self.fc(x.mean(dim=(2, 3)))


def dlib_model_path() -> str:
    """The model file dlib.face_recognition_model_v1 loads (shipped by face_recognition_models)."""
    from faceoff.faces.landmarks import shipped_dlib_model

    return shipped_dlib_model("face_recognition_model_location")


def load_dlib_resnet(path: str | None = None) -> DlibResNet:
    """The port with the weights of ``path`` (default: the shipped model), in eval mode."""
    return DlibResNet(parse_dlib_net(str(path or dlib_model_path()))).eval()
