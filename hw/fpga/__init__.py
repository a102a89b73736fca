"""FPGA build flow (``encore fpga``): targets, the pin shell, the yosys/nextpnr flow, reports."""
