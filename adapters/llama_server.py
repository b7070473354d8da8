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
import sys


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
