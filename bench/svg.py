"""The boot chart of `make bench`: one horizontal bar per system, cut into
the phases of its boot (medians), all on one time axis."""
from xml.sax.saxutils import escape

# (key in a system's "segments", legend text, colour)
PHASES = [
    ("launch_kernel", "launch \u2192 kernel clock starts", "#9e9e9e"),
    ("kernel_init", "kernel \u2192 init (PID 1)", "#3f7fbf"),
    ("init_cmd", "init \u2192 command started", "#f0a030"),
    ("cmd_status", "command \u2192 host has its exit status", "#4caf50"),
    ("init_status", "init \u2192 host has the exit status (not split)", "#c9a0dc"),
    ("kernel_status", "kernel \u2192 host has the exit status (not split)", "#7fb0d0"),
    ("poweroff", "exit status \u2192 VM gone", "#d9534f"),
]

WIDTH = 980
LABEL_W = 330
RIGHT_PAD = 70
ROW_H = 34
BAR_H = 20
TOP = 64


def _nice_step(span_ms):
    for step in (50, 100, 200, 250, 500, 1000, 2000, 5000):
        if span_ms / step <= 10:
            return step
    return 10000


def boot_chart(systems, title, subtitle):
    """systems: [(label, {phase key: ms}, total ms or None)]. Returns SVG text."""
    plot_w = WIDTH - LABEL_W - RIGHT_PAD
    longest = max([sum(v for v in segs.values() if v) for _, segs, _ in systems] + [1.0])
    step = _nice_step(longest)
    span = step * (int(longest / step) + 1)
    scale = plot_w / span
    legend_top = TOP + ROW_H * len(systems) + 40
    height = legend_top + 22 * ((len(PHASES) + 1) // 2) + 16
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">' % (WIDTH, height, WIDTH, height),
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="22" font-size="15" font-weight="bold">%s</text>' % escape(title),
        '<text x="10" y="42" fill="#555">%s</text>' % escape(subtitle),
    ]
    axis_y = TOP + ROW_H * len(systems) + 4
    for i in range(int(span / step) + 1):
        x = LABEL_W + i * step * scale
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e4e4e4"/>' % (x, TOP - 6, x, axis_y))
        out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%d</text>' % (x, axis_y + 14, i * step))
    out.append('<text x="%d" y="%d" text-anchor="end" fill="#555">ms</text>' % (WIDTH - 10, axis_y + 14))
    for row, (label, segs, total) in enumerate(systems):
        y = TOP + row * ROW_H
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (LABEL_W - 10, y + BAR_H - 6, escape(label)))
        x = LABEL_W
        for key, name, colour in PHASES:
            ms = segs.get(key)
            if not ms or ms <= 0:
                continue
            w = ms * scale
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s">'
                       '<title>%s: %.0f ms</title></rect>' % (x, y, w, BAR_H, colour, escape(name), ms))
            x += w
        if total:
            out.append('<text x="%.1f" y="%d" fill="#333">%.0f</text>' % (x + 4, y + BAR_H - 6, total))
    for i, (_, name, colour) in enumerate(PHASES):
        lx = 10 + (i % 2) * (WIDTH // 2)
        ly = legend_top + (i // 2) * 22
        out.append('<rect x="%d" y="%d" width="14" height="14" fill="%s"/>' % (lx, ly, colour))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 20, ly + 12, escape(name)))
    out.append("</svg>")
    return "\n".join(out) + "\n"
