"""The HTML pieces of the report pages: a table, an embedded figure, a figure's PNG bytes.

Shared by `spelunker.plotting.report`, `spelunker.plotting.timedomain`
and `spelunker.plotting.pointing` (not for users).  A figure is embedded
as a base64 ``data:`` URI, so a page needs no other file.
"""

import base64
import html
import io

__all__ = ["html_table", "html_figure", "png_bytes", "saved_figure"]


def html_table(header, rows, numeric=()):
    """An HTML table: escaped ``header`` cells and ``rows``; columns ``numeric`` right-aligned.

    Examples
    --------
    >>> from spelunker.plotting._page import html_table
    >>> print(html_table(["a", "b"], [(1, "<x>")], numeric=(0,)))
    <table>
    <tr><th>a</th><th>b</th></tr>
    <tr><td class="num">1</td><td>&lt;x&gt;</td></tr>
    </table>
    """
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    for row in rows:
        cells = []
        for k, value in enumerate(row):
            attribute = ' class="num"' if k in numeric else ""
            cells.append(f"<td{attribute}>{html.escape(str(value))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def html_figure(name, caption, path, png, *, wide=False):
    """A ``<figure>`` embedding the PNG bytes ``png``, captioned with ``caption`` and the file name.

    Examples
    --------
    >>> from pathlib import Path
    >>> from spelunker.plotting._page import html_figure
    >>> html_figure("frame", "Median frame.", Path("jw_frame.png"), b"png")[:44]
    '<figure id="frame"><img alt="frame figure" s'
    """
    data = base64.b64encode(png).decode("ascii")
    attribute = ' class="wide"' if wide else ""
    return (f'<figure id="{html.escape(name)}"{attribute}><img alt="{html.escape(name)} figure" '
            f'src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)} ({html.escape(path.name)})</figcaption>"
            "</figure>")


def png_bytes(fig, dpi):
    """The PNG of a matplotlib Figure at ``dpi`` (tight bounding box)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def saved_figure(fig, directory, *, stem, name, caption, dpi, wide=False):
    """Write ``fig`` as ``<directory>/<stem>_<name>.png``; return its ``<figure>`` and the path.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from matplotlib.figure import Figure
    >>> from spelunker.plotting._page import saved_figure
    >>> fig = Figure(figsize=(2, 2))
    >>> _ = fig.add_subplot().plot([0, 1])
    >>> html, path = saved_figure(fig, Path(tempfile.mkdtemp()), stem="jw1", name="x",
    ...                           caption="A line.", dpi=20)
    >>> path.name, html[:23]
    ('jw1_x.png', '<figure id="x"><img alt')
    """
    png = png_bytes(fig, dpi)
    path = directory / f"{stem}_{name}.png"
    path.write_bytes(png)
    return html_figure(name, caption, path, png, wide=wide), path
