"""A flame graph as one self-contained SVG (no fonts, scripts or styles from elsewhere): a frame's
width is its share of the samples, its callers below it; hover for the numbers, click a frame to
zoom into it, click the bottom bar to zoom out."""
from __future__ import annotations

import hashlib
from html import escape

from sisctl.profile.folded import Folded

WIDTH, ROW, FONT_PX = 1200, 17, 12
MIN_SHARE = 0.001        # frames narrower than this are left out (summed into their caller)

SCRIPT = """
function zoom(g) {
  var x = +g.getAttribute('data-x'), w = +g.getAttribute('data-w'), d = +g.getAttribute('data-d');
  document.querySelectorAll('g.f').forEach(function (f) {
    var fx = +f.getAttribute('data-x'), fw = +f.getAttribute('data-w'), fd = +f.getAttribute('data-d');
    var inside = fx >= x - 1e-9 && fx + fw <= x + w + 1e-9;
    var shown = fd < d ? (fx <= x + 1e-9 && fx + fw >= x + w - 1e-9) : inside;
    f.style.display = shown ? '' : 'none';
    if (!shown) return;
    var nx = fd < d ? 0 : (fx - x) / w, nw = fd < d ? 1 : fw / w;
    var r = f.querySelector('rect'), t = f.querySelector('text');
    r.setAttribute('x', (nx * W).toFixed(1)); r.setAttribute('width', Math.max(nw * W - 0.5, 0.1).toFixed(1));
    t.setAttribute('x', (nx * W + 3).toFixed(1));
    var room = Math.floor((nw * W - 6) / 7), name = f.getAttribute('data-n');
    t.textContent = room < 3 ? '' : (name.length > room ? name.slice(0, room - 2) + '..' : name);
  });
}
document.querySelectorAll('g.f').forEach(function (g) { g.addEventListener('click', function () { zoom(g); }); });
"""


def _warm(name: str) -> str:
    h = hashlib.md5(name.encode()).digest()
    return f"rgb({205 + h[0] % 50},{80 + h[1] % 130},{40 + h[2] % 50})"


def _tree(folded: Folded) -> dict:
    root = {"name": "all", "value": 0, "children": {}}
    for path, count in folded.items():
        root["value"] += count
        node = root
        for name in path:
            node = node["children"].setdefault(name, {"name": name, "value": 0, "children": {}})
            node["value"] += count
    return root


def flame_svg(folded: Folded, title: str, colors: dict[str, str] | None = None,
              notes: dict[str, str] | None = None) -> str:
    """`colors`: a fill per function (a differential graph's), else warm colours by name;
    `notes`: extra text per function for its tooltip."""
    root = _tree(folded)
    total = root["value"] or 1
    frames = []   # (depth, x share, width share, name, samples)

    def place(node: dict, depth: int, x: float) -> None:
        width = node["value"] / total
        frames.append((depth, x, width, node["name"], node["value"]))
        for child in sorted(node["children"].values(), key=lambda c: c["name"]):
            if child["value"] / total >= MIN_SHARE:
                place(child, depth + 1, x)
            x += child["value"] / total

    place(root, 0, 0.0)
    depth = max(f[0] for f in frames) + 1
    height = (depth + 2) * ROW
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="{FONT_PX}">',
           f'<text x="{WIDTH / 2}" y="{ROW - 4}" text-anchor="middle">{escape(title)}</text>']
    for d, x, w, name, value in frames:
        y = height - (d + 1) * ROW
        fill = "rgb(200,200,200)" if d == 0 else (colors or {}).get(name) or _warm(name)
        note = (notes or {}).get(name, "")
        label = f"{name} ({value} samples, {100 * value / total:.2f} %{', ' + note if note else ''})"
        room = int((w * WIDTH - 6) / 7)
        shown = "" if room < 3 else (name if len(name) <= room else name[:room - 2] + "..")
        out.append(f'<g class="f" data-x="{x:.6f}" data-w="{w:.6f}" data-d="{d}" data-n="{escape(name)}" '
                   f'style="cursor:pointer"><title>{escape(label)}</title>'
                   f'<rect x="{x * WIDTH:.1f}" y="{y}" width="{max(w * WIDTH - 0.5, 0.1):.1f}" height="{ROW - 1}" '
                   f'fill="{fill}" rx="2"/><text x="{x * WIDTH + 3:.1f}" y="{y + ROW - 5}">{escape(shown)}</text></g>')
    out.append(f"<script><![CDATA[var W = {WIDTH};{SCRIPT}]]></script></svg>")
    return "\n".join(out)


def static_copy(svg: str) -> str:
    """A flame graph without its zoom script, for a page that stays script-free."""
    return svg[:svg.index("<script>")] + "</svg>"
