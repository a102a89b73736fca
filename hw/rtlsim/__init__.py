"""Running the Encore RTL under cocotb: two DRAM models behind the AXI4 port (the fast Verilog
memory of axi_mem.v inside the encore_sim wrapper of wrapper.py, driven by fast_bench.py, and the
protocol-checking Python AxiDram of dram_model.py, driven by bench.py), an AXI4-Lite driver, and
a runner that builds (and caches) the simulator and runs jobs on either model.

Lives in ``hw`` (not in tests) because ``encore rtl`` uses it too.
"""
