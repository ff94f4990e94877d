#!/usr/bin/env bash
# Seed the fuzz corpora (fuzz/corpus/<target>/, gitignored) from the committed fixtures:
# every .npy and .npz under tests/, crates/ and sql-examples/ (the files numpy wrote).
#   header     the file's first 4 KiB (the header, and a little data)
#   dtype      the committed descr seeds (fuzz/seeds/dtype), extracted from the same fixtures
#   npy_read   8 zero bytes of reading options (see fuzz_targets/common) + the .npy file
#   npz_read   the same for .npz files
#   roundtrip  nothing: its input is arbitrary bytes, no file
set -euo pipefail
cd "$(dirname "$0")"
root=..
mkdir -p corpus/header corpus/dtype corpus/npy_read corpus/npz_read corpus/roundtrip
n=0
while IFS= read -r -d '' file; do
    n=$((n + 1))
    # Large fixtures slow the fuzzer down without adding coverage.
    [ "$(stat -c %s "$file")" -le 262144 ] || continue
    name="seed-$n-$(basename "$file")"
    case "$file" in
        *.npy)
            head -c 4096 "$file" > "corpus/header/$name"
            { head -c 8 /dev/zero; cat "$file"; } > "corpus/npy_read/$name" ;;
        *.npz)
            { head -c 8 /dev/zero; cat "$file"; } > "corpus/npz_read/$name" ;;
    esac
done < <(find "$root/tests" "$root/crates" "$root/sql-examples" \( -name '*.npy' -o -name '*.npz' \) -print0)
cp seeds/dtype/* corpus/dtype/
echo "seeded: $(ls corpus/header | wc -l) header, $(ls corpus/dtype | wc -l) dtype, $(ls corpus/npy_read | wc -l) npy_read, $(ls corpus/npz_read | wc -l) npz_read"
