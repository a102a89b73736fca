"""Running the Encore RTL under cocotb: a DRAM model (AXI4 slave), an AXI4-Lite driver, the
cocotb bench that runs jobs, and a runner that builds (and caches) the simulator and runs them.

Lives in ``hw`` (not in tests) because ``encore rtl`` uses it too.
"""
