"""The self-contained pages memlens writes (the HTML export, the report, the tracker's
page): their shell, style and scripts, kept as files in `assets/` and inlined by `page`."""
