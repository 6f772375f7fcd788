"""Batched analytical placer (paper Sec. III-A): one design, B net-weight vectors, B placements at once.

`problem` flattens a circuit (with its ports as `io_pins` on the outline), `ops/` holds one cost term per module,
`place` composes them with a schedule, `legalize` makes the result exact (no overlap, mirrored pairs, on grid),
`space` enumerates the design space, `legality` and `hpwl` check and measure what came out.
"""
