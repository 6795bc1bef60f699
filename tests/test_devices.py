"""Device choice: the CHATBOT_EMBEDDING_DEVICE rules and the local LLM's GPU layers, with fake
probes (no GPU or torch needed)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from chatbot.common.devices import embedding_device, llm_gpu_layers, select_device
from chatbot.config import Settings
from tests.paths import REPO


def probe(result: bool, calls: list[str], name: str) -> Callable[[], bool]:
    def run() -> bool:
        calls.append(name)
        return result

    return run


def pick(setting: str, cuda: bool, mps: bool) -> tuple[str, list[str]]:
    calls: list[str] = []
    device = select_device(
        setting, cuda_available=probe(cuda, calls, "cuda"), mps_available=probe(mps, calls, "mps")
    )
    return device, calls


@pytest.mark.parametrize(
    ("cuda", "mps", "expected", "probed"),
    [
        (True, True, "cuda", ["cuda"]),  # mps is not even probed
        (True, False, "cuda", ["cuda"]),
        (False, True, "mps", ["cuda", "mps"]),
        (False, False, "cpu", ["cuda", "mps"]),
    ],
)
def test_auto_prefers_cuda_then_mps_then_cpu(
    cuda: bool, mps: bool, expected: str, probed: list[str]
) -> None:
    assert pick("auto", cuda, mps) == (expected, probed)


def test_cpu_never_probes() -> None:
    assert pick("cpu", True, True) == ("cpu", [])


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_explicit_available_device(device: str) -> None:
    assert pick(device, True, True)[0] == device


def test_setting_is_case_and_space_insensitive() -> None:
    assert pick("  CUDA ", True, False)[0] == "cuda"
    assert pick("Auto", False, False)[0] == "cpu"


def test_unavailable_cuda_names_setting_and_alternatives() -> None:
    with pytest.raises(ValueError) as info:
        pick("cuda", False, True)
    message = str(info.value)
    assert "CHATBOT_EMBEDDING_DEVICE=cuda" in message
    assert "CUDA" in message
    assert "available here: cpu, mps" in message


def test_unavailable_mps_when_nothing_else() -> None:
    with pytest.raises(ValueError, match=r"no Apple MPS device.*available here: cpu\)"):
        pick("mps", False, False)


@pytest.mark.parametrize("setting", ["gpu", "", "cuda:0", "tpu"])
def test_unknown_setting(setting: str) -> None:
    with pytest.raises(ValueError, match=r"CHATBOT_EMBEDDING_DEVICE=.*auto, cpu, cuda, mps"):
        pick(setting, True, True)


def test_the_setting_is_typed_and_defaults_to_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().embedding_device == "auto"
    monkeypatch.setenv("CHATBOT_EMBEDDING_DEVICE", "cpu")
    assert Settings().embedding_device == "cpu"
    monkeypatch.setenv("CHATBOT_EMBEDDING_DEVICE", "bogus")
    with pytest.raises(ValueError, match="embedding_device"):
        Settings()


def test_cpu_setting_does_not_import_torch() -> None:
    code = (
        "import sys\nfrom chatbot.common import devices\n"
        "assert devices.embedding_device('cpu') == 'cpu'\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_real_torch_probe_answers() -> None:
    # The installed torch may or may not see a GPU; either way "auto" must give a valid device.
    pytest.importorskip("torch")
    assert embedding_device("auto") in {"cuda", "mps", "cpu"}


def test_auto_without_a_gpu_driver_does_not_import_torch() -> None:
    code = (
        "import sys\nfrom chatbot.common import devices\n"
        "if not devices.nvidia_driver_present() and not devices.apple_silicon():\n"
        "    assert devices.embedding_device('auto') == 'cpu'\n"
        "    print('torch' in sys.modules)\n"
        "else:\n"
        "    print(False)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("setting", "supported", "expected"),
    [(None, True, -1), (None, False, 0), (0, True, 0), (12, False, 12), (-1, False, -1)],
)
def test_llm_gpu_layers(setting: int | None, supported: bool, expected: int) -> None:
    assert llm_gpu_layers(setting, offload_supported=lambda: supported) == expected
