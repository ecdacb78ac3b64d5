"""Recordings as files: CSV, JSON, HTML and binary exports, and importing them back
(see docs/formats.md)."""

from __future__ import annotations

from memlens.formats.binary import dump_binary, load_binary
from memlens.formats.catalog import FORMATS, Format, format_for_path
from memlens.formats.csv_export import dump_csv
from memlens.formats.html import dump_html, render_html
from memlens.formats.importer import import_file, parse_export, read_export, write_recording
from memlens.formats.json_export import dump_json, load_json

__all__ = [
    "FORMATS",
    "Format",
    "dump_binary",
    "dump_csv",
    "dump_html",
    "dump_json",
    "format_for_path",
    "import_file",
    "load_binary",
    "load_json",
    "parse_export",
    "read_export",
    "render_html",
    "write_recording",
]
