#!/usr/bin/env python3
"""Plot of a bootstrap bench run from its CSV: blocks in the syncing ledger against
time (blue, left axis) and the syncing node's anonymous RSS (red, right axis), as SVG.
Works on the CSV of a run stopped part-way too (the bench writes it as samples arrive);
`scripts/svg-to-png.sh` turns the SVG into the PNG kept next to BENCHMARKS.md.

Usage: scripts/sync-plot.py <sync-N-mode.csv> <out.svg> [title]
Prints the rate over each million blocks and the anonymous RSS when each was reached.
"""
import csv
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rows = []
    with open(sys.argv[1]) as f:
        for r in csv.DictReader(f):
            rss = r.get("anonymous_rss_bytes") or "0"
            rows.append((float(r["seconds"]), int(r["blocks"]), int(rss)))
    if len(rows) < 2:
        sys.exit("no samples")
    title = sys.argv[3] if len(sys.argv) > 3 else "ascending sync over loopback"
    w, h, left, right, bottom, top = 860.0, 480.0, 90.0, 90.0, 50.0, 40.0
    max_t = max(rows[-1][0], 1.0)
    max_n = max(max(r[1] for r in rows), 1)
    max_m = max(max(r[2] for r in rows), 1)

    def x(t):
        return left + t / max_t * (w - left - right)

    def y(v, top_v):
        return h - bottom - v / top_v * (h - bottom - top)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
        'font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{w / 2:.0f}" y="22" text-anchor="middle" font-size="15">{title}</text>',
    ]
    for i in range(6):
        t, n, m = max_t * i / 5, max_n * i / 5, max_m * i / 5
        out.append(
            f'<line x1="{x(t):.1f}" y1="{y(0, 1):.1f}" x2="{x(t):.1f}" y2="{top:.1f}" '
            f'stroke="#ddd"/><text x="{x(t):.1f}" y="{h - bottom + 18:.1f}" '
            f'text-anchor="middle">{t:.0f}</text>'
        )
        out.append(
            f'<line x1="{x(0):.1f}" y1="{y(n, max_n):.1f}" x2="{x(max_t):.1f}" '
            f'y2="{y(n, max_n):.1f}" stroke="#ddd"/><text x="{left - 6:.1f}" '
            f'y="{y(n, max_n) + 4:.1f}" text-anchor="end" fill="#1f5fbf">{n:,.0f}</text>'
        )
        out.append(
            f'<text x="{w - right + 6:.1f}" y="{y(m, max_m) + 4:.1f}" '
            f'fill="#c0392b">{m / 1e6:.0f} MB</text>'
        )
    out.append(
        f'<text x="{(left + w - right) / 2:.0f}" y="{h - 12:.0f}" '
        'text-anchor="middle">seconds</text>'
        f'<text x="16" y="{h / 2:.0f}" transform="rotate(-90 16 {h / 2:.0f})" '
        'text-anchor="middle" fill="#1f5fbf">blocks in the syncing ledger</text>'
        f'<text x="{w - 14:.0f}" y="{h / 2:.0f}" transform="rotate(90 {w - 14:.0f} '
        f'{h / 2:.0f})" text-anchor="middle" fill="#c0392b">anonymous RSS</text>'
    )
    blocks = " ".join(f"{x(t):.1f},{y(n, max_n):.1f}" for t, n, _ in rows)
    rss = " ".join(f"{x(t):.1f},{y(m, max_m):.1f}" for t, _, m in rows if m > 0)
    out.append(
        f'<polyline fill="none" stroke="#1f5fbf" stroke-width="2" points="{blocks}"/>'
    )
    out.append(
        f'<polyline fill="none" stroke="#c0392b" stroke-width="1" points="{rss}"/>'
    )
    out.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(out) + "\n")

    # Rate over each million blocks, and the RSS sample when it was reached.
    step, nxt, prev_t = 1_000_000, 1_000_000, 0.0
    peak = 0
    for (t0, n0, _), (t1, n1, m1) in zip(rows, rows[1:]):
        peak = max(peak, m1)
        while n1 >= nxt and n1 > n0:
            at = t0 + (t1 - t0) * (nxt - n0) / (n1 - n0)
            print(
                f"{nxt // step:>3}M at {at:8.1f} s: {step / (at - prev_t):7.0f} blocks/s "
                f"over that million, anonymous RSS {m1 / 1e6:6.1f} MB (peak so far "
                f"{peak / 1e6:6.1f} MB)"
            )
            prev_t, nxt = at, nxt + step
    t, n, _ = rows[-1]
    print(f"last sample: {n:,} blocks at {t:.1f} s = {(n - 1) / t:.0f} blocks/s overall")


if __name__ == "__main__":
    main()
