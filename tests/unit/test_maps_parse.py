"""The map parser's rules on smaps texts written here: one per rule of docs/maps.md."""

from __future__ import annotations

import pytest

from memlens.analysis.maptext import growth_cause, reading
from memlens.probes import maps
from memlens.probes.maps import ARENA, GO_HEAP_START, Usage, category_of, parse, xmx_bytes

KB = 1024
MB = 1024 * KB
FIELDS = [
    "Size",
    "KernelPageSize",
    "MMUPageSize",
    "Rss",
    "Pss",
    "Pss_Dirty",
    "Shared_Clean",
    "Shared_Dirty",
    "Private_Clean",
    "Private_Dirty",
    "Referenced",
    "Anonymous",
    "KSM",
    "LazyFree",
    "AnonHugePages",
    "ShmemPmdMapped",
    "FilePmdMapped",
    "Shared_Hugetlb",
    "Private_Hugetlb",
    "Swap",
    "SwapPss",
    "Locked",
]


def entry(start: int, end: int, perms: str = "rw-p", path: str = "", rss_kb: int = 4) -> str:
    """One smaps entry as the kernel writes it (rss private and dirty, 1 kB swapped)."""
    inode = 0 if not path.startswith("/") else 1234
    head = f"{start:08x}-{end:08x} {perms} 00000000 00:00 {inode}"
    lines = [f"{head:<73}{path}".rstrip() if path else head + " "]
    values = {
        "Size": (end - start) // KB,
        "KernelPageSize": 4,
        "MMUPageSize": 4,
        "Rss": rss_kb,
        "Pss": rss_kb,
        "Private_Dirty": rss_kb,
        "Swap": 1,
    }
    lines += [f"{name + ':':<16}{values.get(name, 0):>8} kB" for name in FIELDS]
    lines += ["THPeligible:    0", "VmFlags: rd wr mr mw me ac"]
    return "\n".join(lines) + "\n"


def smaps(*entries: str) -> bytes:
    return "".join(entries).encode()


@pytest.mark.parametrize(
    ("path", "perms", "category"),
    [
        ("[heap]", "rw-p", "heap"),
        ("[stack]", "rw-p", "stack"),
        ("[anon: glibc: pthread stack: 42]", "rw-p", "stack"),
        ("", "rw-p", "anon"),
        ("[anon:jemalloc]", "rw-p", "anon"),
        ("[anon_shmem:ring]", "rw-s", "shmem"),
        ("/dev/shm/psm_1", "rw-s", "shmem"),
        ("/memfd:wayland (deleted)", "rw-s", "shmem"),
        ("/SYSV00000000 (deleted)", "rw-s", "shmem"),
        ("/dev/zero (deleted)", "rw-s", "shmem"),
        ("/dev/zero", "rw-p", "anon"),
        ("/anon_hugepage (deleted)", "rw-p", "anon"),
        ("[vdso]", "r-xp", "other"),
        ("[vvar]", "r--p", "other"),
        ("[vsyscall]", "--xp", "other"),
        ("/dev/nvidia0", "rw-s", "other"),
        ("/usr/lib/libc.so.6", "r-xp", "file"),
        ("/data/table.bin (deleted)", "r--s", "file"),
    ],
)
def test_category_rules(path: str, perms: str, category: str) -> None:
    assert category_of(path, perms) == category
    # And through the parser, with a path padded as the kernel pads it.
    parsed = parse(smaps(entry(0x1000, 0x3000, perms, path)))
    assert parsed.mappings[0].category == category
    assert parsed.mappings[0].path == path


def test_sums_and_usage_fields() -> None:
    text = smaps(entry(0x1000, 0x3000, path="[heap]", rss_kb=8), entry(0x5000, 0x9000, rss_kb=12))
    parsed = parse(text)
    assert parsed.categories["heap"] == Usage(8 * KB, 8 * KB, 8 * KB, 1 * KB)
    assert parsed.categories["anon"] == Usage(12 * KB, 12 * KB, 12 * KB, 1 * KB)
    assert parsed.total == Usage(20 * KB, 20 * KB, 20 * KB, 2 * KB)
    assert set(parsed.categories) == set(maps.CATEGORIES)


def test_thread_stack_is_guard_then_stack() -> None:
    guard, top = 0x7F0000000000, 0x7F0000001000
    parsed = parse(
        smaps(
            entry(guard, top, "---p"),
            entry(top, top + 8 * MB - 4 * KB, "rw-p", rss_kb=16),
            # The reverse order (usable pages below, inaccessible above) is no stack.
            entry(0x7F1000000000, 0x7F1000100000, "rw-p"),
            entry(0x7F1000100000, 0x7F1000101000, "---p"),
        )
    )
    assert parsed.thread_stacks == 1
    assert [m.category for m in parsed.mappings] == ["stack", "stack", "anon", "anon"]
    assert parsed.categories["stack"].rss == (4 + 16) * KB


def test_a_large_inaccessible_region_is_no_guard() -> None:
    base = 0x7F0000000000
    parsed = parse(smaps(entry(base, base + 2 * MB, "---p"), entry(base + 2 * MB, base + 4 * MB)))
    assert parsed.thread_stacks == 0


def test_glibc_arenas_are_found_only_with_glibc_and_never_taken_for_stacks() -> None:
    a = 0x7F0000000000  # 64 MiB-aligned
    assert a % ARENA == 0
    arenas = [
        entry(a - 4 * KB, a, "---p"),  # an inaccessible page just below the first arena
        entry(a, a + 1 * MB, "rw-p", rss_kb=1024),
        entry(a + 1 * MB, a + ARENA, "---p"),
        entry(a + ARENA, a + 2 * ARENA, "rw-p", rss_kb=2048),  # a full one
    ]
    libc = entry(0x7F8000000000, 0x7F8000100000, "r-xp", "/usr/lib/x86_64-linux-gnu/libc.so.6")
    with_glibc = parse(smaps(*arenas, libc))
    (runtime,) = with_glibc.runtimes
    assert (runtime.name, runtime.count, runtime.rss) == ("glibc malloc", 2, 3 * MB + 4 * KB)
    assert [m.role for m in with_glibc.mappings[1:4]] == ["malloc arena"] * 3
    assert with_glibc.thread_stacks == 0
    assert with_glibc.categories["stack"].rss == 0
    without = parse(smaps(*arenas))
    assert without.runtimes == ()
    assert without.thread_stacks == 1  # the page below the first arena: no glibc, no telling


def test_go_heap_only_from_its_first_hint() -> None:
    parsed = parse(
        smaps(
            entry(GO_HEAP_START, GO_HEAP_START + 4 * MB, rss_kb=4096),
            entry(GO_HEAP_START + 4 * MB, GO_HEAP_START + 64 * MB, "---p"),
            entry(0x7F0000000000, 0x7F0000100000, rss_kb=100),
        )
    )
    (runtime,) = parsed.runtimes
    assert (runtime.name, runtime.rss) == ("Go", 4096 * KB + 4 * KB)
    assert [m.role for m in parsed.mappings] == ["Go heap", "Go heap", ""]
    assert parse(smaps(entry(GO_HEAP_START + 4096, GO_HEAP_START + 8192))).runtimes == ()


def test_jvm_heap_is_a_run_of_exactly_xmx() -> None:
    base = 0xE0000000
    text = smaps(
        entry(base, base + 32 * MB, rss_kb=32 * 1024),
        entry(base + 32 * MB, base + 512 * MB, "---p"),
        entry(0x7F0000000000, 0x7F0000100000, "r-xp", "/usr/lib/jvm/lib/server/libjvm.so"),
    )
    parsed = parse(text, cmdline=lambda: ["java", "-Xmx1g", "-Xmx512m", "Main"])
    (runtime,) = parsed.runtimes
    assert (runtime.name, runtime.size, runtime.rss) == ("JVM", 512 * MB, 32 * MB + 4 * KB)
    unknown = parse(text, cmdline=lambda: ["java", "Main"])
    assert [r.what for r in unknown.runtimes] == ["its heap is not told apart (no -Xmx)"]
    assert xmx_bytes(["-Xmx2G"]) == 2 << 30
    assert xmx_bytes(["-Xms2g"]) is None


def test_caps_on_mappings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(maps, "MAX_MAPPINGS", 2)
    parsed = parse(smaps(*(entry(0x1000 * (2 * i + 1), 0x1000 * (2 * i + 2)) for i in range(5))))
    assert parsed.truncated
    assert len(parsed.mappings) == 2


def test_caps_on_bytes_drop_the_entry_cut_short(monkeypatch: pytest.MonkeyPatch) -> None:
    text = smaps(*(entry(0x1000 * (2 * i + 1), 0x1000 * (2 * i + 2)) for i in range(5)))
    monkeypatch.setattr(maps, "MAX_BYTES", len(text) // 2)
    parsed = parse(text[: len(text) // 2])
    assert parsed.truncated
    assert len(parsed.mappings) == 2


def test_an_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="unexpected layout"):
        parse(smaps(entry(0x1000, 0x2000)).replace(b"Swap:  ", b"Swop:  "))


def test_reading_sentence() -> None:
    assert reading({"anon": 80, "file": 20}).startswith(
        "most of it (80%) is anonymous memory: malloc arenas or a runtime's heap"
    )
    assert reading({"anon": 40, "file": 30, "heap": 30}).startswith(
        "the largest part (40%) is anonymous memory"
    )
    assert reading({}) == "nothing is resident"


def test_growth_cause_names_the_category_that_grew() -> None:
    assert growth_cause({"anon": 300 * MB, "file": 1 * MB}) == (
        "anonymous memory grew 300.0 MB over the leak: a native heap leak"
    )
    assert growth_cause({"stack": 10 * MB}) == (
        "thread stacks grew 10.0 MB over the leak: threads are not joined"
    )
    assert growth_cause({"anon": 10, "file": 10, "stack": 10}) is None
    assert growth_cause({"anon": -5}) is None


def test_an_unknown_layout_read_from_a_process_is_one_memlens_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from memlens.errors import EXIT_UNREADABLE, MapUnreadable

    probe = maps.MapsProbe(os.getpid())
    try:
        real = probe._read_smaps
        monkeypatch.setattr(
            probe, "_read_smaps", lambda between: real(between).replace(b"\nSwap:", b"\nSwop:")
        )
        with pytest.raises(MapUnreadable, match="unexpected layout") as caught:
            probe.read()
    finally:
        probe.close()
    assert caught.value.exit_code == EXIT_UNREADABLE
