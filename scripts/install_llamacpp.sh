#!/usr/bin/env bash
# Install the llama.cpp engine LargeForge uses on CPUs (the `llamacpp` backend, `quant gguf`):
#   1. llama-cpp-python (its Python bindings: llama_model_quantize, the reference server),
#   2. llama.cpp's own `llama-server`, `llama-quantize` and `llama-imatrix`, built from the same
#      vendored llama.cpp tree,
#   3. llama.cpp's converters (convert_hf_to_gguf.py, convert_lora_to_gguf.py + gguf-py) beside it.
# Everything goes under $LARGEFORGE_HOME/llama.cpp/<version> (default ~/.cache/largeforge); a second
# run finds it there and does nothing. Building takes ~12 + ~10 minutes on 2 cores the first time.
set -euo pipefail
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
PY="${PYTHON:-python3}"
HOME_DIR="${LARGEFORGE_HOME:-$HOME/.cache/largeforge}"
DEST="$HOME_DIR/llama.cpp/$VERSION"
JOBS="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
mkdir -p "$DEST"

SDIST="$DEST/src/llama_cpp_python-$VERSION.tar.gz"
if [ ! -f "$SDIST" ]; then
    $PY -m pip download --quiet --no-deps --no-binary :all: -d "$DEST/src" "llama-cpp-python==$VERSION"
fi
SRC="$DEST/src/llama_cpp_python-$VERSION"
[ -d "$SRC" ] || tar xzf "$SDIST" -C "$DEST/src"

# 1. The bindings, built once into a wheel kept beside the sources (pip does not cache a wheel
#    built from a local file).
if ! $PY -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$VERSION')" 2>/dev/null; then
    WHEEL=$(ls "$DEST"/wheels/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -1 || true)
    if [ -z "$WHEEL" ]; then
        CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" $PY -m pip wheel --quiet --no-deps -w "$DEST/wheels" "$SDIST"
        WHEEL=$(ls "$DEST"/wheels/llama_cpp_python-"$VERSION"-*.whl | head -1)
    fi
    $PY -m pip install --quiet "$WHEEL" "diskcache>=5.6.1" "jinja2>=2.11.3" "numpy>=1.20.0" "typing-extensions>=4.5.0" \
        "fastapi>=0.100.0" "pydantic-settings>=2.0.1" "sse-starlette>=1.6.1" "starlette-context>=0.3.6,<0.4" \
        "uvicorn>=0.22.0" "PyYAML>=5.1"
fi
# What llama.cpp's converter imports besides torch, transformers and numpy.
$PY -c "import sentencepiece" 2>/dev/null || $PY -m pip install --quiet "sentencepiece>=0.2"

# 2. llama-server, llama-quantize and llama-imatrix (the importance matrix `quant gguf` uses for
#    types of 5 bits or fewer): static binaries. The two tools reuse the server's libraries, so they
#    add about 30 s to the ~10-minute build.
TOOLS=""
for tool in llama-server llama-quantize llama-imatrix; do
    [ -x "$DEST/bin/$tool" ] || TOOLS="$TOOLS $tool"
done
if [ -n "$TOOLS" ]; then
    if [ ! -f "$DEST/build/CMakeCache.txt" ]; then
        cmake -S "$SRC/vendor/llama.cpp" -B "$DEST/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
            -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
            -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF > "$DEST/cmake-configure.log"
    fi
    # shellcheck disable=SC2086  # one word per target
    cmake --build "$DEST/build" --target $TOOLS -j "$JOBS" > "$DEST/cmake-build.log"
    mkdir -p "$DEST/bin"
    for tool in $TOOLS; do cp "$DEST/build/bin/$tool" "$DEST/bin/$tool"; done
fi

# 3. The converters and the gguf-py they were written against (once: a second run must not pull
#    them from under a conversion that is running).
if [ ! -f "$DEST/convert_lora_to_gguf.py" ] || [ ! -d "$DEST/gguf-py" ]; then
    for f in convert_hf_to_gguf.py convert_lora_to_gguf.py convert_hf_to_gguf_update.py; do
        [ -f "$SRC/vendor/llama.cpp/$f" ] && cp "$SRC/vendor/llama.cpp/$f" "$DEST/"
    done
    rm -rf "$DEST/gguf-py" && cp -r "$SRC/vendor/llama.cpp/gguf-py" "$DEST/gguf-py"
    if [ -d "$SRC/vendor/llama.cpp/conversion" ]; then
        rm -rf "$DEST/conversion" && cp -r "$SRC/vendor/llama.cpp/conversion" "$DEST/conversion"
    fi
fi
echo "llama.cpp $VERSION ready in $DEST"
