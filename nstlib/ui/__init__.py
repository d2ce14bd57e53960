"""Front ends: the `nst` CLI, the notebooks' helpers, the explorer widgets and its Voilà server, demos and the
paper's Figure 1."""
