"""The RTL build caches of hw/rtlsim: the shared Verilator runtime objects (objcache.py) are
reused only while every file their dependency list names is unchanged, and the Verilog cache
(cache.py) generates once per source state, the sources read once per process."""

from __future__ import annotations

import os

from hw.rtlsim import cache, objcache


def _fake_build(folder, header: str, obj: bytes = b"OBJ"):
    """A build folder where verilator.o was compiled from verilator.cpp and Vtop.h."""
    folder.mkdir()
    (folder / "Vtop.h").write_text(header)
    src = folder / "verilator.cpp"
    src.write_text("int main() {}\n")
    (folder / "verilator.o").write_bytes(obj)
    (folder / "verilator.d").write_text(f"verilator.o: \\\n {src} \\\n Vtop.h\n")
    return folder


def test_dependency_file_parsing(tmp_path):
    d = tmp_path / "x.d"
    d.write_text("x.o: \\\n /a/b.cpp \\\n c.h d.h\n")
    assert objcache.dep_files(d) == ["/a/b.cpp", "c.h", "d.h"]


def test_objects_reused_only_with_the_same_dependencies_and_flags(tmp_path):
    store = tmp_path / "runtime"
    objcache.save(store, _fake_build(tmp_path / "b1", "class Vtop {};"), "-O1")
    # Same header content (verilator.cpp is named by absolute path: b1's), same flags:
    # restored, stamped newer than the freshly generated files so that make keeps it.
    b2 = tmp_path / "b2"
    b2.mkdir()
    (b2 / "Vtop.h").write_text("class Vtop {};")
    assert objcache.restore(store, b2, "-O1") == ["verilator"]
    assert (b2 / "verilator.o").read_bytes() == b"OBJ"
    assert os.path.getmtime(b2 / "verilator.o") >= os.path.getmtime(b2 / "Vtop.h")
    # Another header, or other flags: nothing restored.
    b3 = tmp_path / "b3"
    b3.mkdir()
    (b3 / "Vtop.h").write_text("class Vtop { int port; };")
    assert objcache.restore(store, b3, "-O1") == []
    assert objcache.restore(store, b2, "-O2") == []


def test_verilog_generated_once_per_source_state(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "VERILOG_CACHE", tmp_path / "verilog")
    calls = []

    def generate():
        calls.append(1)
        return "module encore_top(); endmodule\n"

    key = {"dim": 4}
    first = cache.cached_verilog(key, 4, generate)
    again = cache.cached_verilog(key, 4, generate)
    assert first == (generate(), True) and again == (generate(), False)
    assert len(calls) == 3  # two calls above for the comparison, one by the cache
    assert cache.cached_verilog({"dim": 8}, 8, generate)[1]  # another configuration


def test_sources_read_once_per_process(tmp_path, monkeypatch):
    """A source edited while a process runs does not change the key of what it generates: the
    process elaborates the modules it imported before the edit (a test session that went on
    during an edit once cached the old engine's Verilog under the new sources' key)."""
    src = tmp_path / "hw" / "engine.py"
    src.parent.mkdir()
    src.write_text("A = 1\n")
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    monkeypatch.setattr(cache, "rtl_sources", lambda: [src])
    cache.sources_digest.cache_clear()
    try:
        before = cache.verilog_path({"dim": 4}, 4)
        src.write_text("A = 2\n")
        assert cache.verilog_path({"dim": 4}, 4) == before
        cache.sources_digest.cache_clear()  # a new process
        assert cache.verilog_path({"dim": 4}, 4) != before
    finally:
        cache.sources_digest.cache_clear()
