"""The report as documents: report.md and a self-contained, offline index.html (no scripts), each
with the notes, every figure with its caption and data links, and the tables.

A report is written into a folder that may hold other things (`--output DIR`). Its own earlier
documents are replaced; documents it did not write (an index.html of a web site, someone's
report.md) are not: `check_replaceable` refuses the whole report before anything is written. A
document is the report's when it reads as one (index.html: its title starts with "astraios
report: "; report.md: its first line does), which holds for reports written before the check too.
Its tables/ and figures/ are its own only beside such a document: without one, an existing
tables/ or figures/ folder is refused too (an interrupted report leaves them: move them away).
"""

from __future__ import annotations

import html
from pathlib import Path

TITLE = "astraios report: "
DOCUMENTS = {"index.html": f"<title>{TITLE}", "report.md": f"# {TITLE}"}  # name -> what only the report's holds
FOLDERS = ("tables", "figures")


def check_replaceable(output: Path) -> None:
    """Refuse (FileExistsError) an output folder holding a document the report would replace but did not write."""
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"--output {output} is a file, not a folder. Fix: pass a folder (created if missing).")
    found = [name for name in DOCUMENTS if (output / name).exists() or (output / name).is_symlink()]
    for name in found:
        if not _ours(output / name, DOCUMENTS[name]):
            raise FileExistsError(f"{output / name} was not written by astraios report; it is left as it is and no report "
                                  f"was written. Fix: pass another --output, or move {name} away.")
    # tables/ and figures/ are the report's only beside its documents (a CSV cannot say who wrote it).
    for folder in FOLDERS:
        if not found and ((output / folder).exists() or (output / folder).is_symlink()):
            raise FileExistsError(f"{output / folder} exists but {output} holds no report of astraios report, so it may "
                                  f"hold files the report would replace; nothing was written. Fix: pass another "
                                  f"--output, or move {folder}/ away.")


def _ours(path: Path, mark: str) -> bool:
    try:
        return path.is_file() and not path.is_symlink() and mark in path.read_text(errors="replace")[:4096]
    except OSError:
        return False


def markdown(report, runs_dir) -> str:
    parts = [f"# {TITLE}{runs_dir}\n"]
    if report.notes:
        parts.append("## Notes\n\n" + "\n".join(f"- {note}" for note in report.notes) + "\n")
    parts.append("## Figures\n")
    for spec in report.figures:
        parts.append(f"### {spec.title}\n\n![{spec.title}](figures/{spec.name}.png)\n\n{spec.caption} "
                     f"([SVG](figures/{spec.name}.svg), [data](figures/{spec.name}.csv))\n")
    parts.append("## Tables\n\nCSV files: `tables/`.\n")
    parts.extend(table.markdown() for table in report.tables)
    return "\n".join(parts)


HTML_STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
figure{margin:2em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#444}
table{border-collapse:collapse;font-size:.85em;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}li{margin:.3em 0}"""


def html_page(report, runs_dir) -> str:
    title = f"{TITLE}{runs_dir}"
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(str(title))}</title>"
             f"<style>{HTML_STYLE}</style></head><body>\n<h1>{html.escape(str(title))}</h1>\n"]
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(note)}</li>" for note in report.notes) + "</ul>\n")
    parts.append("<h2>Figures</h2>\n")
    for spec in report.figures:
        parts.append(f"<figure><img src=\"figures/{spec.name}.png\" alt=\"{html.escape(spec.title)}\">"
                     f"<figcaption><b>{html.escape(spec.title)}.</b> {html.escape(spec.caption)} "
                     f"<a href=\"figures/{spec.name}.svg\">SVG</a> · <a href=\"figures/{spec.name}.csv\">data</a>"
                     f"</figcaption></figure>\n")
    parts.append("<h2>Tables</h2><p>CSV files are in <code>tables/</code>.</p>\n")
    parts.extend(table.html() for table in report.tables)
    parts.append("</body></html>\n")
    return "".join(parts)
