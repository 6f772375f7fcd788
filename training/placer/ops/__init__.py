"""Cost terms of global placement, each a torch module returning one value per placement: shape (B,)."""
