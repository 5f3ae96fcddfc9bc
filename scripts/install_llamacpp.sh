#!/usr/bin/env bash
# Install the llama.cpp engine LargeForge uses on CPUs (the `llamacpp` backend, `quant gguf`), built
# ONCE from the llama.cpp tree vendored in llama-cpp-python's source distribution:
#   1. llama.cpp as shared libraries (libllama, libggml*, libmtmd) in $DEST/lib and its programs
#      `llama-server`, `llama-quantize`, `llama-imatrix` in $DEST/bin (they load $DEST/lib);
#   2. llama-cpp-python, the Python bindings (perplexity in `quant gguf`), installed WITHOUT a
#      llama.cpp of their own (-DLLAMA_BUILD=OFF: seconds, not another 8-minute build); they load
#      $DEST/lib through LLAMA_CPP_LIB_PATH, which LargeForge sets (for your own scripts:
#      `export LLAMA_CPP_LIB_PATH=$DEST/lib`);
#   3. llama.cpp's converters (convert_hf_to_gguf.py, convert_lora_to_gguf.py + gguf-py) beside them.
# Everything goes under $LARGEFORGE_HOME/llama.cpp/<version> (default ~/.cache/largeforge); a second
# run finds it there and does nothing. The build takes about 10 minutes on 2 cores; its progress is
# printed as it goes, its full output kept in $DEST/cmake-build.log.
#
#   bash scripts/install_llamacpp.sh            # install (or check that it is installed)
#   bash scripts/install_llamacpp.sh --dry-run  # say what would be done, do nothing
set -euo pipefail
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
PY="${PYTHON:-python3}"
HOME_DIR="${LARGEFORGE_HOME:-$HOME/.cache/largeforge}"
DEST="$HOME_DIR/llama.cpp/$VERSION"
JOBS="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
TOOLS="llama-server llama-quantize llama-imatrix"
DRY_RUN=0
[ "${1:-}" = "--dry-run" ] && DRY_RUN=1

say() { echo "llama.cpp: $*"; }
# Run a step, or only name it under --dry-run.
step() {
    if [ "$DRY_RUN" = 1 ]; then echo "  would run: $*"; else "$@"; fi
}

[ "$DRY_RUN" = 1 ] || mkdir -p "$DEST"
SDIST="$DEST/src/llama_cpp_python-$VERSION.tar.gz"
SRC="$DEST/src/llama_cpp_python-$VERSION"
TREE="$SRC/vendor/llama.cpp"
BUILD="$DEST/build-shared"

# 0. The sources (llama-cpp-python's sdist carries the whole llama.cpp tree). Only this package is taken
#    as source: `--no-binary :all:` would also build its build requirements (cmake itself) from source
#    when pip's cache is empty.
if [ ! -f "$SDIST" ]; then
    say "downloading llama-cpp-python $VERSION's source distribution"
    step mkdir -p "$DEST/src"
    step "$PY" -m pip download --quiet --no-deps --no-binary llama-cpp-python -d "$DEST/src" "llama-cpp-python==$VERSION"
fi
if [ ! -d "$SRC" ]; then step tar xzf "$SDIST" -C "$DEST/src"; fi

# 1. One build: shared libraries and the programs that load them ($ORIGIN/../lib once installed,
#    $ORIGIN inside the build tree).
built=1
for tool in $TOOLS; do [ -x "$DEST/bin/$tool" ] || built=0; done
ls "$DEST"/lib/libllama.so* >/dev/null 2>&1 || built=0
if [ "$built" = 0 ]; then
    say "building $TOOLS and libllama once ($JOBS jobs; about 10 minutes on 2 cores)"
    CONFIGURE=(cmake -S "$TREE" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
        -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
        -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON "-DCMAKE_INSTALL_RPATH=\$ORIGIN/../lib;\$ORIGIN")
    if [ "$DRY_RUN" = 1 ]; then
        [ -f "$BUILD/CMakeCache.txt" ] || echo "  would run: ${CONFIGURE[*]}"
        echo "  would run: cmake --build $BUILD --target $TOOLS -j $JOBS (progress lines; log $DEST/cmake-build.log)"
    else
        [ -f "$BUILD/CMakeCache.txt" ] || "${CONFIGURE[@]}" >"$DEST/cmake-configure.log"
        # Progress: one line per percent Make reports (the compiler's lines go to the log).
        # shellcheck disable=SC2086  # one word per target
        if ! cmake --build "$BUILD" --target $TOOLS -j "$JOBS" 2>&1 | tee "$DEST/cmake-build.log" |
            awk 'match($0, /^\[ *[0-9]+%\]/) { p = substr($0, RSTART, RLENGTH); if (p != last) { print "  llama.cpp build " p; fflush(); last = p } }'; then
            tail -30 "$DEST/cmake-build.log"
            say "the build failed (log: $DEST/cmake-build.log)"
            exit 1
        fi
    fi
    step mkdir -p "$DEST/bin" "$DEST/lib"
    for tool in $TOOLS; do step cp "$BUILD/bin/$tool" "$DEST/bin/$tool"; done
    # Every shared library of the build, symlinks kept (libllama.so → libllama.so.0 → …).
    if [ "$DRY_RUN" = 1 ]; then
        echo "  would copy $BUILD/bin/*.so* to $DEST/lib"
    else
        find "$BUILD/bin" -maxdepth 1 -name '*.so*' -exec cp -P {} "$DEST/lib/" \;
        "$DEST/bin/llama-server" --version >/dev/null 2>&1 || { say "the built llama-server does not start"; exit 1; }
        rm -rf "$DEST/build"  # an earlier install's static build, if any: nothing loads it
    fi
else
    say "$TOOLS and libllama are built in $DEST"
fi

# 2. The bindings, without a llama.cpp of their own: they load $DEST/lib.
BINDINGS_OK="import os, sys; os.environ.setdefault('LLAMA_CPP_LIB_PATH', '$DEST/lib'); import llama_cpp; sys.exit(llama_cpp.__version__ != '$VERSION')"
if ! "$PY" -c "$BINDINGS_OK" 2>/dev/null; then
    say "installing llama-cpp-python $VERSION (the bindings only, on the libllama above)"
    WHEEL=$(ls "$DEST"/bindings-wheel/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -1 || true)
    if [ -z "$WHEEL" ] || [ "$DRY_RUN" = 1 ]; then
        step env CMAKE_ARGS="-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF" "$PY" -m pip wheel --quiet --no-deps \
            -w "$DEST/bindings-wheel" "$SDIST"
        WHEEL=$(ls "$DEST"/bindings-wheel/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -1 || echo "<the wheel>")
    fi
    step "$PY" -m pip install --quiet --force-reinstall --no-deps "$WHEEL"
    step "$PY" -m pip install --quiet "diskcache>=5.6.1" "jinja2>=2.11.3" "numpy>=1.20.0" "typing-extensions>=4.5.0" \
        "fastapi>=0.100.0" "pydantic-settings>=2.0.1" "sse-starlette>=1.6.1" "starlette-context>=0.3.6,<0.4" \
        "uvicorn>=0.22.0" "PyYAML>=5.1"
    if [ "$DRY_RUN" = 0 ]; then "$PY" -c "$BINDINGS_OK"; fi
fi
# What llama.cpp's converter imports besides torch, transformers and numpy.
"$PY" -c "import sentencepiece" 2>/dev/null || step "$PY" -m pip install --quiet "sentencepiece>=0.2"

# 3. The converters and the gguf-py they were written against (once: a second run must not pull
#    them from under a conversion that is running).
if [ ! -f "$DEST/convert_lora_to_gguf.py" ] || [ ! -d "$DEST/gguf-py" ]; then
    for f in convert_hf_to_gguf.py convert_lora_to_gguf.py convert_hf_to_gguf_update.py; do
        if [ -f "$TREE/$f" ]; then step cp "$TREE/$f" "$DEST/"; fi
    done
    step rm -rf "$DEST/gguf-py"
    step cp -r "$TREE/gguf-py" "$DEST/gguf-py"
    if [ -d "$TREE/conversion" ]; then
        step rm -rf "$DEST/conversion"
        step cp -r "$TREE/conversion" "$DEST/conversion"
    fi
fi
say "$VERSION ready in $DEST"
