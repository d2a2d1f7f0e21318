#!/bin/sh
# run.sh [SECONDS] - build the libFuzzer harnesses (clang, ASan+UBSan) in
# build-fuzz and run each for SECONDS (default 60) on a temporary copy of
# its seed corpus, so the committed corpus is never modified. Exits non-zero
# if a fuzzer crashes, leaks or fails an invariant; crash inputs are kept in
# the temporary directory, whose path is printed.
set -eu

secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build-fuzz"

# CMakeLists instruments only the harnesses; CMAKE_C_FLAGS instruments
# ghcore as well, so coverage guides into the parsers and ASan sees their
# reads.
CC=clang cmake -S "$root" -B "$build" -DGH_FUZZ=ON -DGH_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
    >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/gh-fuzz.XXXXXX")
status=0
for name in request response chunked proxy_proto xff accesslog path cookie realip_parse cidr fwd_headers admin logfmt \
        cache_control accept_encoding http2 range; do
    bin="$build/fuzz_$name"
    corpus="$work/corpus-$name"
    mkdir -p "$corpus" "$work/artifacts-$name"
    cp "$here/corpus/$name/"* "$corpus/"
    # A harness may come with a libFuzzer dictionary (t/fuzz/NAME.dict).
    dict=""
    [ -f "$here/$name.dict" ] && dict="-dict=$here/$name.dict"
    echo "== fuzz_$name for ${secs}s"
    # shellcheck disable=SC2086 # $dict is empty or one word
    if ! "$bin" -max_total_time="$secs" -print_final_stats=1 $dict \
            -artifact_prefix="$work/artifacts-$name/" "$corpus" \
            >"$work/log-$name" 2>&1; then
        echo "fuzz_$name FAILED; log and artifacts in $work" >&2
        tail -n 40 "$work/log-$name" >&2
        status=1
        continue
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$work/log-$name" || true
    grep -E '^#[0-9]+.*DONE' "$work/log-$name" | tail -n 1 || true
done
if [ "$status" -eq 0 ]; then
    rm -rf "$work"
fi
exit "$status"
