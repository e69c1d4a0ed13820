# Sourced by the device-*.sh scripts (from the repository root) on the GPU machine: puts the directories
# of libcuda, libnvrtc and libcublas(Lt) on LD_LIBRARY_PATH — the loader's path first, then the usual
# CUDA and pip locations — so the backend's dynamic loading finds them.

add_lib_dir() { # $1: library file name
    ldconfig -p 2>/dev/null | grep -q "$1" && return 0
    local d
    for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
        /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu \
        $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cu13", "lib") for p in nvidia.__path__))' 2>/dev/null); do
        if ls "$d/$1"* >/dev/null 2>&1; then export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; return 0; fi
    done
    echo "warning: $1 not found" >&2
}

for lib in libcuda.so.1 libnvrtc.so.13 libcublas.so.13 libcublasLt.so.13; do
    add_lib_dir "$lib"
done
