#!/usr/bin/env bash
# Create .venv and install the project with the given extras (idempotent, offline-friendly).
#
# llama-cpp-python (the 'local' extra) exists on PyPI only as source, and by default it compiles
# llama.cpp for the CPU it is built on (-march=native). That native build segfaulted on a Xeon
# with AVX-512 and AMX, so the build here is pinned and portable: AVX2/FMA/F16C on x86-64 (every
# x86-64 CPU of the last ten years), generic on ARM. CHATBOT_LLAMA_NATIVE=1 asks for a build
# for this machine's CPU instead (less AMX; faster prompts on AVX-512 CPUs, see the README).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-local}"
LLAMA_CPP_VERSION="0.3.36"

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# The CPU build of torch: a plain "torch" requirement could pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"

if [[ ",${extras}," == *",local,"* ]]; then
  # Only the libraries the bindings load: no vision (mtmd) library, no tests, tools or examples.
  flags="-DLLAVA_BUILD=OFF -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF"
  if [[ "${CHATBOT_LLAMA_NATIVE:-0}" == 1 ]]; then
    # -march=native, less AMX: llama.cpp 0.3.36's AMX kernels die with SIGILL/SIGSEGV on
    # Sapphire Rapids Xeons; AVX-512 alone works and evaluates prompts ~25% faster than AVX2.
    flavor="native-no-amx"
    flags="${flags} -DGGML_NATIVE=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
    if [[ "$(uname -m)" == x86_64 ]]; then
      flags="${flags} -DCMAKE_C_FLAGS=-mno-amx-tile\ -mno-amx-int8\ -mno-amx-bf16"
      flags="${flags} -DCMAKE_CXX_FLAGS=-mno-amx-tile\ -mno-amx-int8\ -mno-amx-bf16"
    fi
  else
    case "$(uname -m)" in
      x86_64 | amd64)
        flavor="portable-avx2"
        flags="${flags} -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON"
        flags="${flags} -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF"
        flags="${flags} -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF"
        flags="${flags} -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
        ;;
      *)
        flavor="portable"
        flags="${flags} -DGGML_NATIVE=OFF"
        ;;
    esac
  fi
  build_id="llama-cpp-python ${LLAMA_CPP_VERSION} ${flavor}: ${flags}"
  stamp=".venv/llama-cpp-build.txt"
  if [[ ! -f "${stamp}" || "$(cat "${stamp}")" != "${build_id}" ]]; then
    # pip's own wheel cache keys a build by its source only, not by CMAKE_ARGS, so it could hand
    # back a native build; the wheel is kept in a folder named after the flags instead.
    key="$(printf '%s %s' "${build_id}" "$(.venv/bin/python -c 'import sys; print(sys.version)')" \
      | sha256sum | cut -c1-16)"
    wheels="${CHATBOT_WHEEL_CACHE:-${HOME}/.cache/chatbot/wheels}/llama-cpp-python-${LLAMA_CPP_VERSION}-${flavor}-${key}"
    if ! ls "${wheels}"/llama_cpp_python-*.whl >/dev/null 2>&1; then
      echo "Compiling llama.cpp (${flavor}, llama-cpp-python ${LLAMA_CPP_VERSION}); the first time takes a few minutes..."
      mkdir -p "${wheels}.tmp"
      CMAKE_ARGS="${flags}" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" .venv/bin/python -m pip wheel \
        --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python \
        "llama-cpp-python==${LLAMA_CPP_VERSION}" -w "${wheels}.tmp"
      rm -rf "${wheels}" && mv "${wheels}.tmp" "${wheels}"
    fi
    .venv/bin/python -m pip install --quiet --force-reinstall --no-deps "${wheels}"/llama_cpp_python-*.whl
    echo "${build_id}" > "${stamp}"
  fi
fi
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
