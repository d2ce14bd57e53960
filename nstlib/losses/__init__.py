"""The losses of the paper and its successors on VGG features: the content, TV and total losses (core), the
style losses one module each behind one interface (style/, the paper's Gram loss among them), spatial control
(masks), their targets, and sums over tiles (tiled)."""
