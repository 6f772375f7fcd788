"""Labelling simulation (paper Sec. III-A): placement -> layout effects -> post-layout netlist -> ngspice -> label.

Modules: `techfile` (parameters and equations), `parasitics` (routing trees), `lde` (device shifts), `netlist`
(template per design), `testbench`, `ngspice` (ctypes driver, `ngspice -b` fallback), `label` (batched,
parallel, cached labelling: `label_batch`).
"""
