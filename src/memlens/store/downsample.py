"""M4 downsampling inside SQLite: first, min, max and last of each time bucket.

Why M4: a chart `buckets` pixels wide drawn from these four points per bucket looks the
same as one drawn from every sample, and a one-sample spike survives, which an average
or a stride would hide.

Why this shape of SQL: a `GROUP BY` on the bucket index makes SQLite sort every row
(the index is an expression it cannot match to the primary key), which measured slower
than fetching all rows into Python. Instead a recursive CTE lists the buckets and, per
bucket, scalar subqueries walk the primary key range (target_id, t): first and last are
one seek each, min and max one scan of the bucket each, using SQLite's rule that a bare
column next to a single min()/max() comes from the row that holds it. The values at
those four times are then point lookups on the primary key. Nothing sorts, and only
about four rows per bucket leave SQLite. (A one-pass GROUP BY with four aggregates
measured about 1.5x slower than this, and still lacks the times of min and max.)
"""

from __future__ import annotations

import math
import sqlite3

from memlens.model import SAMPLE_FIELDS

# Without MATERIALIZED (SQLite < 3.35) the CTE may be inlined and each subquery run
# twice: slower, still correct.
_MATERIALIZED = "MATERIALIZED" if sqlite3.sqlite_version_info >= (3, 35) else ""

_RANGE = "target_id = :tid AND t >= lo AND t < hi"


def m4_sql(field: str) -> str:
    """The query for one field; `field` must be one of SAMPLE_FIELDS (it is spliced in).

    min() and max() skip NULLs; in a bucket where every value is NULL their bare `t` is
    some row's, whose value is then NULL, and `m4_points` leaves that point out. (An
    `IS NOT NULL` filter in the scans instead measured about 5% slower.) CROSS JOIN keeps
    SQLite from reordering the lookups into a scan of `samples`.
    """
    if field not in SAMPLE_FIELDS:
        raise ValueError(f"unknown sample field {field!r}")
    return f"""
WITH RECURSIVE
  n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :buckets),
  b(i, lo, hi) AS (
    SELECT i, :start + i * :width,
           CASE WHEN i = :buckets - 1 THEN :stop ELSE :start + (i + 1) * :width END
    FROM n
  ),
  k AS {_MATERIALIZED} (
    SELECT i,
      (SELECT t FROM samples WHERE {_RANGE} ORDER BY t LIMIT 1) AS ft,
      (SELECT t FROM (SELECT t, min({field}) FROM samples WHERE {_RANGE})) AS mnt,
      (SELECT t FROM (SELECT t, max({field}) FROM samples WHERE {_RANGE})) AS mxt,
      (SELECT t FROM samples WHERE {_RANGE} ORDER BY t DESC LIMIT 1) AS lt
    FROM b
  )
SELECT k.ft, f.{field}, k.mnt, mn.{field}, k.mxt, mx.{field}, k.lt, l.{field}
FROM k
  CROSS JOIN samples f ON f.target_id = :tid AND f.t = k.ft
  CROSS JOIN samples mn ON mn.target_id = :tid AND mn.t = k.mnt
  CROSS JOIN samples mx ON mx.target_id = :tid AND mx.t = k.mxt
  CROSS JOIN samples l ON l.target_id = :tid AND l.t = k.lt
ORDER BY k.i
"""


def m4_params(target_id: int, start: float, end: float, buckets: int) -> dict[str, float]:
    """Bucket i is [start + i·width, start + (i+1)·width); the last one includes `end`."""
    return {
        "tid": target_id,
        "start": start,
        "width": (end - start) / buckets,
        "stop": math.nextafter(end, math.inf),
        "buckets": buckets,
    }


def m4_points(
    rows: list[tuple[float | int | None, ...]],
) -> tuple[list[float], list[float | int | None]]:
    """Flatten the per-bucket rows into time-ordered points, one per distinct time."""
    ts: list[float] = []
    vs: list[float | int | None] = []
    for row in rows:
        found: dict[float, float | int | None] = {}
        for i in (0, 2, 4, 6):
            t, v = row[i], row[i + 1]
            if t is not None and (v is not None or i in (0, 6)):
                found[float(t)] = v
        points = sorted(found.items())
        for t, v in points:
            ts.append(t)
            vs.append(v)
    return ts, vs
