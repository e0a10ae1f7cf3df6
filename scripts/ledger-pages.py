#!/usr/bin/env python3
"""Where the bytes of a `data.ldb` go: LMDB page counts per table against the table's
natural size, and the pages that belong to no table (free list, never-used tail).

Usage: scripts/ledger-pages.py <path/to/data.ldb> [blocks]

Then the free list by the transaction that freed the pages (read from the file's raw
pages: LMDB's free-list table is not reachable through its API), newest first: a page
freed by transaction T can be reused from T+2 on, and only once no reader began before
T, so pages freed long before the last commit show a reader that held them.

Reads the file read-only without the lock file (run it on a ledger no node is writing).
"Natural" is what the table's rows take packed into leaf pages completely: per row the
key, the value, LMDB's 8-byte node header and its 2-byte slot in the page's offset
array, over the page's room (page size minus the 16-byte page header). `fill` is that
over the leaf pages the table really has, so 0.69 is the usual result of random-key
inserts (ln 2) and 1.00 a table written in key order with MDB_APPEND.
"""
import os
import struct
import sys

import lmdb

PAGE_HEADER = 16
NODE_HEADER = 8
SLOT = 2


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    env = lmdb.open(path, subdir=False, readonly=True, lock=False, max_dbs=128)
    info = env.info()
    main_stat = env.stat()
    psize = main_stat["psize"]
    room = psize - PAGE_HEADER
    file_size = os.path.getsize(path)
    rows = []
    with env.begin() as txn:
        names = [k for k, _ in txn.cursor()]
    total_used = 2 + main_stat["branch_pages"] + main_stat["leaf_pages"] + main_stat["overflow_pages"]
    for name in names:
        db = env.open_db(name, create=False)
        with env.begin() as txn:
            st = txn.stat(db)
            payload = 0
            for k, v in txn.cursor(db):
                payload += len(k) + len(v) + NODE_HEADER + SLOT
        pages = st["branch_pages"] + st["leaf_pages"] + st["overflow_pages"]
        total_used += pages
        natural = -(-payload // room) if payload else 0
        fill = payload / (st["leaf_pages"] * room) if st["leaf_pages"] else 0.0
        rows.append((name.decode(), st, pages, natural, fill))
    last = info["last_pgno"] + 1
    blocks = int(sys.argv[2]) if len(sys.argv) > 2 else None
    per = (lambda pages: f"{pages * psize / blocks:8.1f}") if blocks else (lambda pages: "")
    print(f"file {file_size} bytes = {file_size // psize} pages of {psize}; last used page {info['last_pgno']}"
          f" (pages in use or free: {last}); map size {info['map_size']}")
    hdr = f"{'table':22} {'entries':>10} {'depth':>5} {'branch':>8} {'leaf':>9} {'overflow':>8} {'pages':>9} {'natural':>9} {'fill':>5}"
    if blocks:
        hdr += f" {'B/block':>8} {'natural B/block':>15}"
    print(hdr)
    for name, st, pages, natural, fill in sorted(rows, key=lambda r: -r[2]):
        line = (f"{name:22} {st['entries']:>10} {st['depth']:>5} {st['branch_pages']:>8} {st['leaf_pages']:>9}"
                f" {st['overflow_pages']:>8} {pages:>9} {natural:>9} {fill:>5.2f}")
        if blocks:
            line += f" {per(pages)} {per(natural):>15}"
        print(line)
    free = last - total_used
    tail = file_size // psize - last
    print(f"{'(main db + 2 meta)':22} {main_stat['entries']:>10} {'':>5} {'':>8} {'':>9} {'':>8}"
          f" {2 + main_stat['branch_pages'] + main_stat['leaf_pages']:>9}")
    print(f"{'free list (and its own pages)':31} {free:>27} pages" + (f" {per(free)}" if blocks else ""))
    print(f"{'file beyond the last used page':31} {tail:>27} pages" + (f" {per(tail)}" if blocks else ""))
    nat_total = sum(r[3] for r in rows)
    print(f"natural total {nat_total} pages = {nat_total * psize} bytes"
          + (f" = {nat_total * psize / blocks:.1f} bytes/block; file {file_size / blocks:.1f} bytes/block" if blocks else ""))
    print_free_list(path)


def free_list(path):
    """(last txnid, [(txnid that freed them, page count)], pages of the free list's own
    B-tree) from the newest meta page. LMDB's layout (mdb.c): a 16-byte page header
    (pgno, pad, flags, lower, upper), meta at offset 16 (magic, version, address, map
    size, the free and main DB records of 48 bytes each, last page, txnid); free-list
    keys are 8-byte txnids, values ID lists (count, then page numbers), often on
    overflow pages."""
    with open(path, "rb") as f:
        head = f.read(8192)
        psize = 4096
        metas = []
        for i in range(2):
            m = head[i * psize + 16:]
            free_db = struct.unpack_from("<IHHQQQQQ", m, 24)
            last_pg, txnid = struct.unpack_from("<QQ", m, 24 + 96)
            metas.append((txnid, free_db, last_pg))
        txnid, free_db, _ = max(metas)
        root = free_db[7]
        own = free_db[3] + free_db[4] + free_db[5]
        out = []

        def page(n):
            f.seek(n * psize)
            return f.read(psize)

        def walk(n):
            pg = page(n)
            flags, lower = struct.unpack_from("<HH", pg, 10)
            for i in range((lower - 16) // 2):
                off = struct.unpack_from("<H", pg, 16 + 2 * i)[0]
                lo, hi, nflags, ksize = struct.unpack_from("<HHHH", pg, off)
                key = pg[off + 8:off + 8 + ksize]
                if flags & 0x01:  # branch: the child's page number in lo/hi/flags
                    walk(lo | hi << 16 | nflags << 32)
                    continue
                dsize = lo | hi << 16
                data = pg[off + 8 + ksize:off + 8 + ksize + dsize]
                if nflags & 0x01:  # F_BIGDATA: the value is on overflow pages
                    ov = struct.unpack_from("<Q", data)[0]
                    f.seek(ov * psize + 16)
                    data = f.read(dsize)
                count = struct.unpack_from("<Q", data)[0]
                out.append((struct.unpack_from("<Q", key)[0], count))

        if root != 0xFFFFFFFFFFFFFFFF:
            walk(root)
    return txnid, sorted(out, reverse=True), own


def print_free_list(path):
    txnid, rows, own = free_list(path)
    total = sum(c for _, c in rows)
    print(f"free list: {total} pages in {len(rows)} records (+{own} pages of its own B-tree);"
          f" last transaction {txnid}")
    for t, c in rows[:12]:
        print(f"  freed by txn {t} ({txnid - t} before the last): {c} pages")
    if len(rows) > 12:
        rest = rows[12:]
        print(f"  {len(rest)} older records: {sum(c for _, c in rest)} pages")


if __name__ == "__main__":
    main()
