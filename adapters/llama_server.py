"""``python -m adapters.llama_server ARGS``: llama-cpp-python's OpenAI-compatible server, made safe.

Takes exactly the arguments of ``python -m llama_cpp.server`` (``--model PATH --host 127.0.0.1
--port N --chat_format chatml``). The one difference: llama.cpp's CPU "extra buffer types"
(the AMX and weight-repacking kernels) are turned off. On the machines of this project
(Xeon CPUs with AMX, llama-cpp-python 0.3.36 built from source) the stock server dies with a
segmentation fault on the first prompt longer than one token; without those buffer types it
serves normally. The switch is llama.cpp's own ``use_extra_bufts`` model parameter (the
``--no-extra-bufts`` flag of llama.cpp's ``llama-server``), which llama-cpp-python does not
expose.
"""

from __future__ import annotations

import runpy
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def disable_extra_buffer_types() -> bool:
    """Make every model that llama-cpp-python loads skip the extra CPU buffer types.

    Returns ``False`` when this llama.cpp build has no such parameter (nothing to do).
    """
    import llama_cpp.llama_cpp as lib

    fields = {name for name, *_ in lib.llama_model_params._fields_}
    if "use_extra_bufts" not in fields:
        return False
    default_params = lib.llama_model_default_params

    def params_without_extra_buffer_types():
        params = default_params()
        params.use_extra_bufts = False
        return params

    lib.llama_model_default_params = params_without_extra_buffer_types
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_embedded_model(
    *, port: int | None = None, log: IO[str] | None = None, startup_timeout_s: float = 180.0
) -> Iterator[str]:
    """Serve the bundled GGUF on 127.0.0.1 for the duration of a ``with`` block.

    Yields:
        The OpenAI-compatible base URL, e.g. ``http://127.0.0.1:8080/v1``.

    Raises:
        RuntimeError: the server exited or did not answer within ``startup_timeout_s``.
    """
    from adapters.models import embedded_gguf_path

    port = port or free_port()
    command = [
        sys.executable, "-m", "adapters.llama_server",
        "--model", str(embedded_gguf_path()),
        "--host", "127.0.0.1", "--port", str(port),
        "--chat_format", "chatml", "--n_ctx", "4096",
    ]  # fmt: skip
    output = log if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        command, cwd=Path(__file__).resolve().parents[1], stdout=output, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_ready(process, url, startup_timeout_s)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_ready(process: subprocess.Popen, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("the llama.cpp server exited during start-up") from None
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the llama.cpp server did not start within {timeout_s} s"
                ) from None
            time.sleep(0.5)


def main() -> None:
    try:
        disable_extra_buffer_types()
    except ImportError as error:
        raise SystemExit(
            "llama-cpp-python's server is not installed: pip install 'llm-gym[server]'"
        ) from error
    sys.argv[0] = "llama_cpp.server"
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
