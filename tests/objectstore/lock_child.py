"""One writer of the object-store lock tests, as its own process: `python lock_child.py MODE ROOT [N]`.

count: N times, under the warehouse writer lock, read a counter object from the bucket, pause, write it
plus one (a read-modify-write: without the lock two writers overwrite each other's increments).
hold: take the lock, print HELD, and keep it until killed (or a line on stdin).
"""

from __future__ import annotations

import sys
import time

from marketlake.storage import DeltaStore


def main() -> None:
    mode, root = sys.argv[1], sys.argv[2]
    store = DeltaStore(root)
    fs, path = store.filesystem, store.table_root("counter.txt")
    if mode == "count":
        for _ in range(int(sys.argv[3])):
            with store.writer_lock(wait=120):
                try:
                    with fs.open_input_stream(path) as f:
                        value = int(f.read().decode() or 0)
                except FileNotFoundError:
                    value = 0
                time.sleep(0.05)  # the window another writer would fall into
                with fs.open_output_stream(path) as f:
                    f.write(str(value + 1).encode())
        print("DONE", flush=True)
    elif mode == "hold":
        with store.writer_lock(wait=30):
            print("HELD", flush=True)
            sys.stdin.readline()
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
