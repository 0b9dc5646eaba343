"""Shared fixtures: a real local Ray, moto's S3 server over HTTP on 127.0.0.1, synthetic weights."""
from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import pytest
import ray
import s3fs
import torch

from operators.animegan import Generator

BUCKET = "stylebatch-test"


def _free_port() -> int:
    return _free_ports(1)[0]


def _free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports (held open together while chosen, so none repeats)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """moto's S3-compatible server on a free loopback port, with credentials in the environment."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
    )
    yield endpoint
    server.stop()


@pytest.fixture(scope="session")
def s3(s3_endpoint: str) -> s3fs.S3FileSystem:
    """An s3fs client of the test server with one bucket made."""
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, key="testing", secret="testing")
    fs.mkdir(BUCKET)
    return fs


@pytest.fixture(scope="session")
def ray_cluster(s3_endpoint: str) -> None:
    """One real local Ray instance for the whole session (2 CPUs, like CI); its workers can import the
    test operators kept here (`poison_operator`)."""
    search_path = os.pathsep.join(p for p in (str(Path(__file__).parent), os.environ.get("PYTHONPATH")) if p)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": search_path}})
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def animegan_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic AnimeGANv2 checkpoint saved the way the public `.pt` files are (a plain state dict)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "paprika.pt"
    torch.save(Generator().state_dict(), path)
    return path


def torchvision_vgg_file(folder: Path, arch: str, name: str) -> Path:
    """Synthetic VGG weights in torchvision's own file format (the full state dict of models.<arch>)."""
    import torchvision

    torch.manual_seed(0)
    path = folder / name
    torch.save(getattr(torchvision.models, arch)(weights=None).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def vgg19_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return torchvision_vgg_file(tmp_path_factory.mktemp("vgg"), "vgg19", "vgg19-dcbb9e9d.pth")


@pytest.fixture(scope="session")
def vgg16_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return torchvision_vgg_file(tmp_path_factory.mktemp("vgg"), "vgg16", "vgg16-397923af.pth")


def _missing_text_data() -> str:
    """Why the handwriting data cannot be rendered here ('' when it can)."""
    from operators.errors import ConfigError
    from pipeline.training.line_render import HAND_FONT, TYPED_FONTS, font_path, word_list

    try:
        for name in (HAND_FONT, *TYPED_FONTS["train"], *TYPED_FONTS["heldout"]):
            font_path(name)
        word_list("train")
    except ConfigError as exc:
        return str(exc)
    return ""


needs_fonts = pytest.mark.skipif(bool(_missing_text_data()), reason=_missing_text_data() or "fonts present")


def _missing_ocr() -> str:
    """Why handwriting legibility cannot be read here ('' when it can)."""
    from operators.errors import ConfigError
    from pipeline.training.eval_pages import EVAL_FONTS
    from pipeline.training.legibility import require_tesseract
    from pipeline.training.line_render import font_path

    try:
        require_tesseract()
        for name in EVAL_FONTS.values():
            font_path(name)
    except ConfigError as exc:
        return str(exc)
    return _missing_text_data()


needs_ocr = pytest.mark.skipif(bool(_missing_ocr()), reason=_missing_ocr() or "Tesseract present")
