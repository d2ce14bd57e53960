"""The losses of the paper and its successors on VGG features: the content, Gram, TV and total losses (core),
the other style losses (style), spatial control (masks), their targets, and sums over tiles (tiled)."""
